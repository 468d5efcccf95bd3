#!/usr/bin/env python3
"""Validates samverkan's invitations with Python's `icalendar` package and the `email` package.

Usage: validate_ics.py FILE...

Each FILE is an iCalendar object (*.ics) or a whole invitation mail (*.eml). Its expected
values are in a sidecar JSON next to it: the file name up to its first dot, plus ".json"
(case.ics, case.eml and case.from-mail.ics all read case.json), written by
tests/ical_validation.rs:

    {"method": "REQUEST", "uid": "...", "sequence": 0, "dtstamp": "20261120T093000Z",
     "dtstart": "20261208T120000Z", "dtend": "...", "summary": "...", "location": null,
     "description": null, "status": "CONFIRMED",
     "organizer": {"cn": "...", "address": "..."},
     "attendees": [{"cn": "...", "address": "...", "role": "REQ-PARTICIPANT",
                    "partstat": "NEEDS-ACTION", "rsvp": true}],
     "local_start": {"tz": "Europe/Stockholm", "time": "2026-03-29T13:00"},
     "mail": {"html": true, "to": ["anna@kommun.test"]}}

Prints one line per problem and exits 1 if there is any; exits 2 on a usage or setup error.
"""

import datetime as dt
import email
import email.policy
import json
import os
import sys
import zoneinfo

try:
    import icalendar
except ImportError:
    print("validate_ics.py: the Python package 'icalendar' is missing; install it with: pip install icalendar",
          file=sys.stderr)
    sys.exit(2)


class Problems:
    def __init__(self, path):
        self.path = path
        self.list = []

    def check(self, ok, what):
        if not ok:
            self.list.append(f"{self.path}: {what}")

    def equal(self, what, got, want):
        self.check(got == want, f"{what}: got {got!r}, expected {want!r}")


def sidecar(path):
    directory, name = os.path.split(path)
    with open(os.path.join(directory, name.split(".", 1)[0] + ".json"), encoding="utf-8") as f:
        return json.load(f)


def parse_utc(s):
    return dt.datetime.strptime(s, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)


def as_list(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def check_raw(p, data):
    """Line structure as RFC 5545 §3.1 wants it: CRLF, at most 75 octets a line, UTF-8."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        p.check(False, f"not UTF-8: {e}")
    p.check(data.endswith(b"\r\n"), "does not end with CRLF")
    lines = data.split(b"\r\n")
    for i, line in enumerate(lines[:-1], 1):
        p.check(b"\r" not in line and b"\n" not in line, f"line {i}: bare CR or LF")
        p.check(len(line) <= 75, f"line {i}: {len(line)} octets (more than 75)")
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            p.check(False, f"line {i}: a fold splits a UTF-8 sequence")


def check_calendar(p, data, want):
    check_raw(p, data)
    try:
        cal = icalendar.Calendar.from_ical(data)
    except Exception as e:  # noqa: BLE001 - any parse failure is the finding
        p.check(False, f"icalendar cannot parse it: {e}")
        return
    for comp in cal.walk():
        p.check(not comp.errors, f"parse errors in {comp.name}: {comp.errors}")
    p.equal("METHOD", str(cal.get("METHOD")), want["method"])
    p.equal("VERSION", str(cal.get("VERSION")), "2.0")
    p.check(bool(cal.get("PRODID")), "no PRODID")
    events = cal.walk("VEVENT")
    p.equal("number of VEVENTs", len(events), 1)
    p.equal("number of subcomponents", len(cal.subcomponents), 1)
    if len(events) != 1:
        return
    ev = events[0]

    p.equal("UID", str(ev.get("UID")), want["uid"])
    p.equal("SEQUENCE", ev.decoded("SEQUENCE", None), want["sequence"])
    p.equal("STATUS", str(ev.get("STATUS")), want["status"])
    for name, key in (("DTSTAMP", "dtstamp"), ("DTSTART", "dtstart"), ("DTEND", "dtend")):
        prop = ev.get(name)
        if prop is None:
            p.check(False, f"no {name}")
            continue
        p.check("TZID" not in prop.params, f"{name} has a TZID (expected UTC)")
        value = ev.decoded(name)
        p.check(isinstance(value, dt.datetime) and value.utcoffset() == dt.timedelta(0),
                f"{name} is not a UTC date-time: {value!r}")
        p.equal(name, value, parse_utc(want[key]))
        p.equal(f"{name} as written", prop.to_ical().decode(), want[key])

    local = want.get("local_start")
    if local:
        start = ev.decoded("DTSTART").astimezone(zoneinfo.ZoneInfo(local["tz"]))
        p.equal(f"DTSTART in {local['tz']}", start.strftime("%Y-%m-%dT%H:%M"), local["time"])

    for name, key in (("SUMMARY", "summary"), ("LOCATION", "location"), ("DESCRIPTION", "description")):
        got = ev.get(name)
        p.equal(name, None if got is None else str(got), want[key])

    org = ev.get("ORGANIZER")
    if org is None:
        p.check(False, "no ORGANIZER")
    else:
        p.check(bool(org.params.get("CN")), "ORGANIZER has no CN")
        p.equal("ORGANIZER CN", org.params.get("CN"), want["organizer"]["cn"])
        p.equal("ORGANIZER", str(org), "mailto:" + want["organizer"]["address"])

    attendees = as_list(ev.get("ATTENDEE"))
    p.equal("number of ATTENDEEs", len(attendees), len(want["attendees"]))
    for i, (got, exp) in enumerate(zip(attendees, want["attendees"]), 1):
        p.equal(f"ATTENDEE {i} address", str(got), "mailto:" + exp["address"])
        p.equal(f"ATTENDEE {i} CN", got.params.get("CN"), exp["cn"])
        p.equal(f"ATTENDEE {i} ROLE", got.params.get("ROLE"), exp["role"])
        p.equal(f"ATTENDEE {i} PARTSTAT", got.params.get("PARTSTAT"), exp["partstat"])
        p.equal(f"ATTENDEE {i} RSVP", got.params.get("RSVP"), "TRUE" if exp["rsvp"] else None)
        if want["method"] == "REQUEST":
            p.equal(f"ATTENDEE {i} RSVP on REQUEST", got.params.get("RSVP"), "TRUE")
            p.equal(f"ATTENDEE {i} PARTSTAT on REQUEST", got.params.get("PARTSTAT"), "NEEDS-ACTION")


def check_mail(p, data, want):
    msg = email.message_from_bytes(data, policy=email.policy.default)
    p.check(not msg.defects, f"mail defects: {msg.defects}")
    p.equal("mail Content-Type", msg.get_content_type(), "multipart/mixed")
    p.equal("Auto-Submitted", str(msg.get("Auto-Submitted", "")).strip(), "auto-generated")
    p.equal("X-Auto-Response-Suppress", str(msg.get("X-Auto-Response-Suppress", "")).strip(), "All")
    p.check(bool(msg.get("Message-ID")), "no Message-ID")
    to = sorted(a.addr_spec for a in msg["To"].addresses) if msg.get("To") else []
    p.equal("To", to, sorted(want["mail"]["to"]))
    attendee_addresses = {a["address"].lower() for a in want["attendees"]}
    p.check(all(a.lower() in attendee_addresses for a in to), "a recipient is not an ATTENDEE")
    if msg.get_content_type() != "multipart/mixed":
        return
    top = msg.get_payload()
    p.equal("parts of multipart/mixed", [t.get_content_type() for t in top],
            ["multipart/alternative", "application/ics"])
    if len(top) != 2:
        return
    alternative, attachment = top

    alts = alternative.get_payload() if alternative.is_multipart() else []
    expected_alts = ["text/plain"] + (["text/html"] if want["mail"]["html"] else []) + ["text/calendar"]
    p.equal("parts of multipart/alternative", [a.get_content_type() for a in alts], expected_alts)
    cal_parts = [a for a in alts if a.get_content_type() == "text/calendar"]
    if len(cal_parts) != 1:
        return
    cal_part = cal_parts[0]
    p.equal("text/calendar method=", cal_part.get_param("method"), want["method"])
    p.equal("text/calendar charset=", str(cal_part.get_param("charset", "")).lower(), "utf-8")

    p.equal("attachment disposition", attachment.get_content_disposition(), "attachment")
    p.equal("attachment filename", attachment.get_filename(), "invite.ics")
    p.equal("attachment name=", attachment.get_param("name"), "invite.ics")

    cal_bytes = cal_part.get_payload(decode=True)
    att_bytes = attachment.get_payload(decode=True)
    p.check(cal_bytes == att_bytes, "text/calendar content differs from the invite.ics attachment")
    check_calendar(p, cal_bytes, want)


def main(paths):
    if not paths:
        print("usage: validate_ics.py FILE.ics|FILE.eml...", file=sys.stderr)
        return 2
    problems = []
    for path in paths:
        p = Problems(path)
        try:
            want = sidecar(path)
            with open(path, "rb") as f:
                data = f.read()
        except (OSError, ValueError) as e:
            p.check(False, f"cannot read the file or its sidecar JSON: {e}")
        else:
            if path.endswith(".eml"):
                check_mail(p, data, want)
            else:
                check_calendar(p, data, want)
        problems += p.list
    for line in problems:
        print("FAIL " + line)
    print(f"python icalendar {icalendar.__version__}: {len(paths)} files, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
