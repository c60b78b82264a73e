//! Service level management in the store: agreements, suppliers, the clocks
//! on records (updated in the same transaction as the record write that
//! moves them), their warning timers in the job table, notifications,
//! reports and the what-if replay.

pub mod agreements;
pub mod clocks;
pub mod notifications;
pub mod reports;
pub mod timers;
pub mod worktime;

pub use agreements::{Supplier, SupplierInput};
pub use clocks::{ClockEventRow, SlaClock};
