//! The messages Rollcall sends, built from what a registration knows.

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::Message;

pub struct Recipient<'a> {
    pub name: &'a str,
    pub email: &'a str,
}

impl Recipient<'_> {
    fn mailbox(&self) -> Result<Mailbox, String> {
        let address = self
            .email
            .parse()
            .map_err(|_| "the recipient address is not deliverable".to_string())?;
        Ok(Mailbox::new(Some(self.name.to_string()), address))
    }
}

/// The confirmation for a new registration (from the form or an import),
/// with the check-in QR attached.
pub fn registration_confirmation(
    from: &Mailbox,
    to: &Recipient,
    event_title: &str,
    personal_url: &str,
    checkin_code: &crate::domain::CheckinCode,
) -> Result<Message, String> {
    let png = crate::qr::png(checkin_code, 8).map_err(|e| e.to_string())?;
    confirmation(from, to, event_title, personal_url, png)
}

/// Sent on registration: the personal link, and the QR to show at the door.
fn confirmation(
    from: &Mailbox,
    to: &Recipient,
    event_title: &str,
    personal_url: &str,
    qr_png: Vec<u8>,
) -> Result<Message, String> {
    let body = format!(
        "Dear {name},\n\n\
         you are registered for {event_title}.\n\n\
         Your personal page, with your programme, your ticket and the link to\n\
         cancel if your plans change:\n\n    {personal_url}\n\n\
         Show the attached QR code at the door (on your phone or printed).\n\
         Keep this link to yourself: it opens your registration.\n\n\
         See you there!\n",
        name = to.name,
    );
    Message::builder()
        .from(from.clone())
        .to(to.mailbox()?)
        .subject(format!("Your registration for {event_title}"))
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(body))
                .singlepart(Attachment::new("rollcall-checkin-qr.png".to_string()).body(
                    qr_png,
                    ContentType::parse("image/png").map_err(|e| e.to_string())?,
                )),
        )
        .map_err(|e| e.to_string())
}

/// Sent when someone registers again with an address that already has a
/// registration: the link goes to the address, never to the page.
pub fn link_reminder(
    from: &Mailbox,
    to: &Recipient,
    event_title: &str,
    personal_url: &str,
) -> Result<Message, String> {
    let body = format!(
        "Dear {name},\n\n\
         someone (probably you) tried to register this address for\n\
         {event_title} again. You are already registered; your personal page is:\n\n\
         \x20   {personal_url}\n\n\
         If this wasn't you, you can ignore this message.\n",
        name = to.name,
    );
    Message::builder()
        .from(from.clone())
        .to(to.mailbox()?)
        .subject(format!("Your link for {event_title}"))
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| e.to_string())
}
