//! Service level management: business calendars (and, beside them, agreements and clocks).
//!
//! The business-time arithmetic lives here, in the pure domain, so that it can be tested
//! exhaustively and gives the same answer on every server whatever its time zone.

pub mod agreement;
pub mod calendar;
pub mod clock;
pub mod ics;
