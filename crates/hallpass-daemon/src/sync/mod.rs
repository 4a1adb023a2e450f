//! Identity sync sources.

pub mod ldap;
