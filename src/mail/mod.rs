//! Reading and writing mail: raw bytes → [`view::MailView`] (decoded headers, text, calendar
//! parts; HTML rendered to text by [`html`]), and outgoing MIME in [`compose`].

pub mod bounce;
pub mod compose;
pub mod html;
pub mod imip;
pub mod view;
