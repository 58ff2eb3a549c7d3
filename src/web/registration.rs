//! The event page with its programme and registration form, and the form's
//! submission. Errors come back as the same page, every field as typed.

use super::csrf::CsrfToken;
use super::error::AppError;
use super::{render_with_csrf, AppState};
use crate::db::events::{AgendaSession, Event};
use crate::db::participants::{Participant, RegisterOutcome};
use crate::db::{self, DbConnection, DbError};
use crate::domain::{
    AttendanceMode, Category, Country, FieldErrors, NewRegistration, RegistrationForm,
    SessionFormat,
};
use crate::mail::messages::{self, Recipient};
use crate::timefmt as format;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

/// An event with its sessions and the seats taken in each.
struct Programme {
    event: Event,
    sessions: Vec<AgendaSession>,
    seats: Vec<(i32, AttendanceMode, i64)>,
}

fn load_programme(conn: &mut DbConnection, slug: &str) -> Result<Option<Programme>, DbError> {
    let Some(event) = db::events::find_event(conn, slug)? else {
        return Ok(None);
    };
    let sessions = db::events::sessions_of(conn, event.id)?;
    let seats = db::events::seats_taken(conn, event.id)?;
    Ok(Some(Programme {
        event,
        sessions,
        seats,
    }))
}

async fn programme(state: &AppState, slug: String) -> Result<Programme, AppError> {
    db::run(&state.pool, move |conn| load_programme(conn, &slug))
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let programme = programme(&state, slug.into_inner()).await?;
    let form = RegistrationForm::default();
    let csrf = state.csrf.issue(&req);
    let page = EventPage::new(&programme, &form, FieldErrors::default(), None, &csrf);
    render_with_csrf(StatusCode::OK, &page, &csrf)
}

pub async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let programme = programme(&state, slug.into_inner()).await?;
    let form: RegistrationForm = serde_html_form::from_bytes(&body).map_err(|_| {
        AppError::BadRequest(
            "The registration form could not be read. Please go back and send it again.".into(),
        )
    })?;
    let csrf = state.csrf.issue(&req);
    let again = |status, errors, notice: &str| {
        let page = EventPage::new(&programme, &form, errors, Some(notice.to_string()), &csrf);
        render_with_csrf(status, &page, &csrf)
    };

    if let Err(wait) = state
        .limits
        .allow_registration(state.limits.client_ip(req.peer_addr(), req.headers()))
    {
        let mut response = again(
            StatusCode::TOO_MANY_REQUESTS,
            FieldErrors::default(),
            "Many registrations came from your network in the last minute, so this one was not saved yet. Please wait a minute and send the form again: what you typed is kept.",
        )?;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(wait));
        return Ok(response);
    }
    if !state.csrf.verify(&req, &form.csrf_token) {
        return again(
            StatusCode::FORBIDDEN,
            FieldErrors::default(),
            "This form had expired, so nothing was saved. Please check your details and send it again.",
        );
    }
    let choices: Vec<_> = programme
        .sessions
        .iter()
        .map(AgendaSession::as_choice)
        .collect();
    let registration = match NewRegistration::parse(&form, &choices) {
        Ok(registration) => registration,
        Err(errors) => {
            return again(
                StatusCode::UNPROCESSABLE_ENTITY,
                errors,
                "Some details need your attention: see the messages below.",
            )
        }
    };

    let event_id = programme.event.id;
    let now = db::now_ms();
    let stored = registration.clone();
    let (outcome, existing) = db::run(&state.pool, move |conn| {
        let outcome = db::participants::register(conn, event_id, &stored, now)?;
        let existing = match outcome {
            RegisterOutcome::EmailTaken => {
                db::participants::find_live_by_email(conn, event_id, stored.person.email.as_str())?
            }
            _ => None,
        };
        Ok((outcome, existing))
    })
    .await?;

    match outcome {
        RegisterOutcome::Registered {
            participant_id,
            page_token,
            checkin_code,
        } => {
            tracing::info!(participant_id, event_id, "registered");
            state.live.changed(event_id);
            let url = format!("{}/r/{}", state.base_url, page_token.as_str());
            let recipient = Recipient {
                name: registration.person.full_name.as_str(),
                email: registration.person.email.as_str(),
            };
            let message = messages::registration_confirmation(
                state.mailer.from(),
                &recipient,
                &programme.event.title,
                &url,
                &checkin_code,
            );
            queue_mail(&state, message);
            Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, format!("/r/{}", page_token.as_str())))
                .finish())
        }
        RegisterOutcome::EmailTaken => {
            if let Some(participant) = existing {
                send_link_again(&state, &programme.event, &participant);
            }
            let mut errors = FieldErrors::default();
            errors.add(
                "email",
                "This address is already registered for this event. We have sent the link to your personal page to it again.",
            );
            again(
                StatusCode::UNPROCESSABLE_ENTITY,
                errors,
                "You are already registered: check your inbox.",
            )
        }
        RegisterOutcome::SessionFull { session_id, seat } => {
            let title = programme
                .sessions
                .iter()
                .find(|s| s.id == session_id)
                .map_or("A session you chose", |s| s.title.as_str());
            let mut errors = FieldErrors::default();
            let message = match seat {
                AttendanceMode::Offline => format!(
                    "“{title}” has no in-person seats left. You can still follow it online: choose “Online” above."
                ),
                AttendanceMode::Online => format!("“{title}” has no online places left."),
            };
            errors.add("sessions", message);
            again(
                StatusCode::UNPROCESSABLE_ENTITY,
                errors,
                "A session you chose is full.",
            )
        }
    }
}

fn send_link_again(state: &AppState, event: &Event, participant: &Participant) {
    let url = format!("{}/r/{}", state.base_url, participant.page_token);
    let recipient = Recipient {
        name: &participant.full_name,
        email: &participant.email,
    };
    queue_mail(
        state,
        messages::link_reminder(state.mailer.from(), &recipient, &event.title, &url),
    );
}

fn queue_mail(state: &AppState, message: Result<lettre::Message, String>) {
    match message {
        Ok(message) => state.mailer.send(message),
        Err(error) => tracing::warn!(%error, "could not build a message"),
    }
}

pub struct SessionView {
    pub slug: String,
    pub title: String,
    pub description: String,
    pub room: String,
    pub time: String,
    pub format: &'static str,
    pub members_only: bool,
    /// e.g. "12 in-person seats left"
    pub seats_note: Option<String>,
    pub full_in_person: bool,
}

/// Sessions that start together run in parallel and are shown side by side.
pub struct Slot {
    pub heading: String,
    pub sessions: Vec<SessionView>,
}

#[derive(Template)]
#[template(path = "registration/event.html")]
pub struct EventPage<'a> {
    title: &'a str,
    slug: &'a str,
    description: &'a str,
    venue: &'a str,
    dates: String,
    timezone: &'a str,
    slots: Vec<Slot>,
    form: &'a RegistrationForm,
    errors: FieldErrors,
    notice: Option<String>,
    csrf_token: String,
    countries: &'static [Country],
    modes: &'static [AttendanceMode],
    categories: &'static [Category],
}

impl<'a> EventPage<'a> {
    fn new(
        programme: &'a Programme,
        form: &'a RegistrationForm,
        errors: FieldErrors,
        notice: Option<String>,
        csrf: &CsrfToken,
    ) -> Self {
        let event = &programme.event;
        let tz = format::zone(&event.timezone);
        let mut slots: Vec<Slot> = Vec::new();
        let mut slot_start = None;
        for session in &programme.sessions {
            let view = session_view(session, &programme.seats, tz);
            if slot_start == Some(session.starts_at) {
                if let Some(slot) = slots.last_mut() {
                    slot.sessions.push(view);
                    continue;
                }
            }
            slot_start = Some(session.starts_at);
            slots.push(Slot {
                heading: format!(
                    "{} · {}",
                    format::day(session.starts_at, tz),
                    format::clock(session.starts_at, tz)
                ),
                sessions: vec![view],
            });
        }
        EventPage {
            title: &event.title,
            slug: &event.slug,
            description: &event.description,
            venue: &event.venue,
            dates: format::day_range(event.starts_at, event.ends_at, tz),
            timezone: &event.timezone,
            slots,
            form,
            errors,
            notice,
            csrf_token: csrf.token.clone(),
            countries: Country::all(),
            modes: AttendanceMode::ALL,
            categories: Category::ALL,
        }
    }
}

fn session_view(
    session: &AgendaSession,
    seats: &[(i32, AttendanceMode, i64)],
    tz: chrono_tz::Tz,
) -> SessionView {
    let taken = |seat| {
        seats
            .iter()
            .find(|(id, s, _)| *id == session.id && *s == seat)
            .map_or(0, |(_, _, n)| *n)
    };
    let format = session.format();
    let left_in_person = (format != SessionFormat::Online)
        .then(|| {
            session
                .capacity_offline
                .map(|cap| (i64::from(cap) - taken(AttendanceMode::Offline)).max(0))
        })
        .flatten();
    let left_online = (format != SessionFormat::InPerson)
        .then(|| {
            session
                .capacity_online
                .map(|cap| (i64::from(cap) - taken(AttendanceMode::Online)).max(0))
        })
        .flatten();
    let seats_note = match (left_in_person, left_online) {
        (Some(0), Some(0)) => Some("Full, in person and online".to_string()),
        (Some(0), _) if format == SessionFormat::Hybrid => {
            Some("No in-person seats left · you can still attend online".to_string())
        }
        (Some(0), _) => Some("Full".to_string()),
        (Some(n), _) if n <= 20 => Some(format!(
            "{n} in-person seat{} left",
            if n == 1 { "" } else { "s" }
        )),
        (_, Some(0)) => Some("No online places left".to_string()),
        _ => None,
    };
    SessionView {
        slug: session.slug.clone(),
        title: session.title.clone(),
        description: session.description.clone(),
        room: session.room.clone(),
        time: format!(
            "{}–{}",
            format::clock(session.starts_at, tz),
            format::clock(session.ends_at, tz)
        ),
        format: format.label(),
        members_only: session.members_only,
        seats_note,
        full_in_person: left_in_person == Some(0),
    }
}
