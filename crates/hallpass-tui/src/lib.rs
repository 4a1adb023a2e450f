//! hallpass-tui: the terminal UI of the hallpass access broker, built on The Elm Architecture
//! with explicit effects.
//!
//! [`App`] is the model; [`Msg`] everything that happens (keys, mouse, resize, the 1 Hz tick,
//! daemon replies and events); [`update`] changes the model and returns [`Cmd`]s without doing
//! any IO; views are `impl Widget for &App`; [`run`] is the runtime that owns the terminal and
//! the daemon connection. Architecture invariant: the TUI reaches the daemon only through
//! `hallpass_proto::HallpassClient`, and only the runtime does IO.

pub mod app;
pub mod chain;
pub mod display;
pub mod edit;
pub mod effect;
pub mod field;
pub mod fixture;
pub mod forms;
pub mod layout;
pub mod message;
pub mod overlay;
pub mod paged;
pub mod pane;
pub mod runtime;
pub mod screens;
pub mod scroll;
pub mod theme;
pub mod update;
pub mod view;

pub use app::{App, ScreenId};
pub use effect::Cmd;
pub use message::Msg;
pub use runtime::{RunError, run};
pub use theme::Theme;
pub use update::update;
