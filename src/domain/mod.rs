//! Domain types: each can only hold a valid value, and parsing is the only way
//! in. The rest of the code takes these types and never checks again.

mod checkin;
mod country;
mod email;
mod enums;
pub mod import;
pub mod programme;
mod registration;
mod secrets;
mod text;

pub use checkin::{CheckinAnswer, CheckinStatus, ParticipantCard, RejectReason};
pub use country::Country;
pub use email::Email;
pub use enums::{
    AttendanceMode, AttendanceSource, Category, ParticipantStatus, SessionFormat, StaffRole,
    TokenRole,
};
pub use registration::{
    check_field, FieldErrors, NewRegistration, PersonDetails, PersonFields, RegistrationForm,
    SessionChoice,
};
pub use secrets::{CheckinCode, PageToken};
pub use text::{fold_for_search, Affiliation, PersonName};
