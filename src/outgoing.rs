//! The shell's way to build a templated mail (with the daemon's templates), and who a
//! configured address is.

use anyhow::Result;

use crate::app::App;
use crate::config::Forum;
use crate::store::Outgoing;

pub use crate::mail::templated::Mail;

/// Renders and builds the mail with the daemon's templates (see [`crate::mail::templated`]).
pub fn build(app: &App, forum: &Forum, m: Mail<'_>) -> Result<Outgoing> {
    crate::mail::templated::build(&app.templates, forum, m)
}

/// (name, address) of a member or configured person; the address alone when unknown.
pub fn person(forum: &Forum, address: &str) -> (String, String) {
    let name = forum
        .member(address)
        .map(|m| m.name.clone())
        .or_else(|| (forum.convenor.address == address).then(|| forum.convenor.name.clone()))
        .or_else(|| {
            forum
                .units
                .iter()
                .filter_map(|u| u.unit_head.as_ref())
                .find(|h| h.address == address)
                .map(|h| h.name.clone())
        })
        .unwrap_or_default();
    (name, address.to_string())
}
