//! The Events API over HTTP (issue 29, being built): what arrives at a request URL. So far
//! the check every request passes first, [`signature`].

pub mod signature;
