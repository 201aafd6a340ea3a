//! The set command family.

use crate::{CommandSpec, DataFn};

pub(crate) fn specs() -> Vec<CommandSpec<DataFn>> {
    Vec::new()
}
