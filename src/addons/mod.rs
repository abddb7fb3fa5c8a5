//! Add-on servers: skiff's own PostgreSQL cluster (`postgres/`) and one Redis unit per add-on
//! (`redis/`), each behind a narrow trait the reconciler drives.

pub(crate) mod postgres;
pub(crate) mod redis;
