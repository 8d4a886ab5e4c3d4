//! earmark-web's tests: the API through the router without sockets (`api`), and the page in a
//! real headless Chromium (`browser`).

mod api;
mod browser;
