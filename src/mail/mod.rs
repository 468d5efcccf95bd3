//! Reading mail: raw bytes → [`view::MailView`], a typed, decoded view the core decides on.
pub mod compose;
pub mod view;
