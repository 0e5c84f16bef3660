//! The finished-prefix positions live in the bus crate (the acknowledgements
//! use them too).

pub(crate) use intake_bus::commits::Commits;
