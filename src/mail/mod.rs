//! Reading and writing mail: raw bytes → [`view::MailView`] (decoded headers, text, calendar
//! parts; HTML rendered to text by [`html`]), and outgoing MIME in [`compose`]: templated mails
//! ([`templated`]), invitations with their calendar object ([`imip`]) and the meeting mails
//! ([`meeting`]).

pub mod bounce;
pub mod compose;
pub mod html;
pub mod imip;
pub mod meeting;
pub mod templated;
pub mod view;
