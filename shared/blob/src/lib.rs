//! S3 uploads groundwork for the uploads function (issue 10, not wired to routes yet): the
//! browser posts bytes straight to S3 with a presigned POST ([`policy`], signed by hand with the
//! SDK's SigV4 primitives, since the SDK has no presigned POST), the function verifies what
//! arrived by its magic bytes ([`sniff`]), and filenames stay display data ([`filename`]).

pub mod filename;
pub mod policy;
pub mod sniff;
