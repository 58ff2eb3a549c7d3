// @generated-style table definitions shared by both backends. Keep in step with
// migrations/sqlite and migrations/postgres (they differ only in id types).

diesel::table! {
    /// Kept by triggers: seats taken by live registrations.
    session_seats (session_id, seat) {
        session_id -> Integer,
        seat -> Text,
        taken -> BigInt,
    }
}

diesel::table! {
    app_secrets (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    events (id) {
        id -> Integer,
        slug -> Text,
        title -> Text,
        description -> Text,
        venue -> Text,
        timezone -> Text,
        starts_at -> BigInt,
        ends_at -> BigInt,
        created_at -> BigInt,
        checkin_grace_minutes -> Integer,
    }
}

diesel::table! {
    agenda_sessions (id) {
        id -> Integer,
        event_id -> Integer,
        slug -> Text,
        title -> Text,
        description -> Text,
        room -> Text,
        starts_at -> BigInt,
        ends_at -> BigInt,
        format -> Text,
        capacity_offline -> Nullable<Integer>,
        capacity_online -> Nullable<Integer>,
        stream_url -> Nullable<Text>,
        members_only -> Bool,
        join_opens_minutes -> Integer,
        join_closes_minutes -> Integer,
        online_min_minutes -> Integer,
    }
}

diesel::table! {
    watching (participant_id, session_id) {
        participant_id -> Integer,
        session_id -> Integer,
        event_id -> Integer,
        seconds_watched -> BigInt,
        last_seen -> BigInt,
    }
}

diesel::table! {
    participants (id) {
        id -> Integer,
        event_id -> Integer,
        full_name -> Text,
        email -> Text,
        affiliation -> Text,
        country -> Text,
        mode -> Text,
        category -> Text,
        status -> Text,
        checkin_code -> Text,
        page_token -> Text,
        created_at -> BigInt,
        cancelled_at -> Nullable<BigInt>,
        anonymised_at -> Nullable<BigInt>,
        name_folded -> Nullable<Text>,
    }
}

diesel::table! {
    participant_sessions (participant_id, session_id) {
        participant_id -> Integer,
        session_id -> Integer,
        seat -> Text,
    }
}

diesel::table! {
    attendance (id) {
        id -> Integer,
        event_id -> Integer,
        participant_id -> Integer,
        session_id -> Nullable<Integer>,
        mode -> Text,
        source -> Text,
        door -> Nullable<Text>,
        recorded_by -> Nullable<Text>,
        recorded_at -> BigInt,
        counted -> Bool,
        scan_id -> Nullable<Text>,
    }
}

diesel::table! {
    staff_users (id) {
        id -> Integer,
        username -> Text,
        password_hash -> Text,
        role -> Text,
        created_at -> BigInt,
        event_id -> Nullable<Integer>,
    }
}

diesel::table! {
    device_tokens (id) {
        id -> Integer,
        event_id -> Integer,
        label -> Text,
        role -> Text,
        token_hash -> Text,
        created_by -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    device_token_sessions (token_id, session_id) {
        token_id -> Integer,
        session_id -> Integer,
    }
}

diesel::table! {
    checkin_log (id) {
        id -> Integer,
        event_id -> Integer,
        scan_id -> Nullable<Text>,
        session_id -> Nullable<Integer>,
        participant_id -> Nullable<Integer>,
        door -> Nullable<Text>,
        actor -> Text,
        action -> Text,
        outcome -> Text,
        reason -> Nullable<Text>,
        answer -> Text,
        at -> BigInt,
    }
}

diesel::joinable!(agenda_sessions -> events (event_id));
diesel::joinable!(device_tokens -> events (event_id));
diesel::joinable!(device_token_sessions -> device_tokens (token_id));
diesel::joinable!(participants -> events (event_id));
diesel::joinable!(participant_sessions -> participants (participant_id));
diesel::joinable!(participant_sessions -> agenda_sessions (session_id));
diesel::joinable!(attendance -> participants (participant_id));
diesel::joinable!(session_seats -> agenda_sessions (session_id));

diesel::allow_tables_to_appear_in_same_query!(
    app_secrets,
    events,
    agenda_sessions,
    participants,
    participant_sessions,
    attendance,
    staff_users,
    device_tokens,
    device_token_sessions,
    checkin_log,
    watching,
    session_seats,
);
