//! Qualified WIT names (`namespace:package/item@version`): the one parser
//! lives in `pipectl-io` (every crate splits names with it), re-exported
//! here.

pub use pipectl_io::wit_name::{NameError, QualifiedName, package_of, unversioned};
