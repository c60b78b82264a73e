//! Service level management: business calendars, agreements and clocks.

pub mod agreement;
pub mod clock;
