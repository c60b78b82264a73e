//! Configuration management: CI classes and their typed attributes, the
//! life cycle of a CI, relationship types, and the graph walks behind
//! impact analysis. Pure: the store feeds the walks one frontier at a time.

pub mod class;
pub mod graph;
pub mod lifecycle;
pub mod relation;

pub use class::{AttrKind, AttributeDef, ClassSchema};
pub use graph::Walk;
pub use lifecycle::CiStatus;
pub use relation::RelationKind;
