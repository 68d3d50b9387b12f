//! A project's `.enki/` folder: finding it, creating it, and loading the
//! files that live in it (roles). Shared by every enki front end.

pub mod beneath;
pub mod confine;
pub mod init;
pub mod layout;
pub mod roles;

pub use layout::{Layout, LocateError};
