// Validates samverkan's iCalendar invitations with Mozilla's ical.js, the parser Thunderbird
// uses.
//
// Usage: node validate_ics.mjs FILE.ics...
//
// Expected values come from the sidecar JSON next to each file: its name up to the first dot,
// plus ".json" (case.ics and case.from-mail.ics both read case.json); the format is described
// in validate_ics.py. Prints one line per problem and exits 1 if there is any; exits 2 on a
// usage or setup error. Install the parser with: npm ci --prefix tests/validators

import { readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";

let ICAL;
try {
  ({ default: ICAL } = await import("ical.js"));
} catch (e) {
  console.error(
    `validate_ics.mjs: the npm package 'ical.js' is missing (${e.message}); install it with: npm ci --prefix tests/validators`,
  );
  process.exit(2);
}

function sidecar(path) {
  const stem = basename(path).split(".")[0];
  return JSON.parse(readFileSync(join(dirname(path), `${stem}.json`), "utf8"));
}

function utcSeconds(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) throw new Error(`bad expected UTC time ${s}`);
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) / 1000;
}

function localTime(unixSeconds, tz) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-GB", {
      timeZone: tz,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    })
      .formatToParts(new Date(unixSeconds * 1000))
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

function validate(path) {
  const problems = [];
  const check = (ok, what) => {
    if (!ok) problems.push(`${path}: ${what}`);
  };
  const equal = (what, got, want) =>
    check(got === want, `${what}: got ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);

  let want, bytes;
  try {
    want = sidecar(path);
    bytes = readFileSync(path);
  } catch (e) {
    check(false, `cannot read the file or its sidecar JSON: ${e.message}`);
    return problems;
  }

  // Line structure (RFC 5545 §3.1): CRLF, at most 75 octets, no fold inside a UTF-8 sequence.
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let text;
  try {
    text = decoder.decode(bytes);
  } catch {
    check(false, "not UTF-8");
    return problems;
  }
  check(text.endsWith("\r\n"), "does not end with CRLF");
  const physical = text.split("\r\n").slice(0, -1);
  physical.forEach((line, i) => {
    const octets = Buffer.byteLength(line, "utf8");
    check(octets <= 75, `line ${i + 1}: ${octets} octets (more than 75)`);
    check(!/[\r\n]/.test(line), `line ${i + 1}: bare CR or LF`);
  });
  let offset = 0;
  for (const line of physical) {
    const len = Buffer.byteLength(line, "utf8");
    try {
      decoder.decode(bytes.subarray(offset, offset + len));
    } catch {
      check(false, `a fold splits a UTF-8 sequence at octet ${offset}`);
    }
    offset += len + 2;
  }

  let cal;
  try {
    cal = new ICAL.Component(ICAL.parse(text));
  } catch (e) {
    check(false, `ical.js cannot parse it: ${e.message}`);
    return problems;
  }
  equal("component", cal.name, "vcalendar");
  equal("METHOD", cal.getFirstPropertyValue("method"), want.method);
  equal("VERSION", cal.getFirstPropertyValue("version"), "2.0");
  check(!!cal.getFirstPropertyValue("prodid"), "no PRODID");
  const subs = cal.getAllSubcomponents();
  equal("subcomponents", subs.map((c) => c.name).join(","), "vevent");
  const events = cal.getAllSubcomponents("vevent");
  if (events.length !== 1) return problems;
  const ev = events[0];

  equal("UID", ev.getFirstPropertyValue("uid"), want.uid);
  equal("SEQUENCE", ev.getFirstPropertyValue("sequence"), want.sequence);
  equal("STATUS", ev.getFirstPropertyValue("status"), want.status);
  for (const [name, key] of [
    ["dtstamp", "dtstamp"],
    ["dtstart", "dtstart"],
    ["dtend", "dtend"],
  ]) {
    const prop = ev.getFirstProperty(name);
    if (!prop) {
      check(false, `no ${name.toUpperCase()}`);
      continue;
    }
    check(!prop.getParameter("tzid"), `${name.toUpperCase()} has a TZID (expected UTC)`);
    const t = prop.getFirstValue();
    check(t.zone === ICAL.Timezone.utcTimezone, `${name.toUpperCase()} is not in UTC`);
    equal(name.toUpperCase(), t.toUnixTime(), utcSeconds(want[key]));
    equal(`${name.toUpperCase()} as written`, t.toICALString(), want[key]);
  }
  if (want.local_start) {
    const start = ev.getFirstPropertyValue("dtstart");
    equal(
      `DTSTART in ${want.local_start.tz}`,
      localTime(start.toUnixTime(), want.local_start.tz),
      want.local_start.time,
    );
  }
  for (const [name, key] of [
    ["summary", "summary"],
    ["location", "location"],
    ["description", "description"],
  ]) {
    equal(name.toUpperCase(), ev.getFirstPropertyValue(name), want[key]);
  }

  const org = ev.getFirstProperty("organizer");
  if (!org) {
    check(false, "no ORGANIZER");
  } else {
    check(!!org.getParameter("cn"), "ORGANIZER has no CN");
    equal("ORGANIZER CN", org.getParameter("cn"), want.organizer.cn);
    equal("ORGANIZER", org.getFirstValue(), `mailto:${want.organizer.address}`);
  }

  const attendees = ev.getAllProperties("attendee");
  equal("number of ATTENDEEs", attendees.length, want.attendees.length);
  attendees.forEach((a, i) => {
    const exp = want.attendees[i];
    if (!exp) return;
    const n = i + 1;
    equal(`ATTENDEE ${n} address`, a.getFirstValue(), `mailto:${exp.address}`);
    equal(`ATTENDEE ${n} CN`, a.getParameter("cn") ?? null, exp.cn);
    equal(`ATTENDEE ${n} ROLE`, a.getParameter("role"), exp.role);
    equal(`ATTENDEE ${n} PARTSTAT`, a.getParameter("partstat"), exp.partstat);
    equal(`ATTENDEE ${n} RSVP`, a.getParameter("rsvp") ?? null, exp.rsvp ? "TRUE" : null);
    if (want.method === "REQUEST") {
      equal(`ATTENDEE ${n} RSVP on REQUEST`, a.getParameter("rsvp"), "TRUE");
      equal(`ATTENDEE ${n} PARTSTAT on REQUEST`, a.getParameter("partstat"), "NEEDS-ACTION");
    }
  });
  return problems;
}

const paths = process.argv.slice(2);
if (paths.length === 0) {
  console.error("usage: node validate_ics.mjs FILE.ics...");
  process.exit(2);
}
const problems = paths.flatMap(validate);
for (const p of problems) console.log(`FAIL ${p}`);
console.log(`ical.js: ${paths.length} files, ${problems.length} problems`);
process.exit(problems.length ? 1 : 0);
