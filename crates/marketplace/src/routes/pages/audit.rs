//! The admin's audit log page: filter by event, account and dates, newest first, page by page.

use crate::auth::AdminUser;
use crate::client_ip::Origin;
use crate::error::AppError;
use crate::routes::pages::{layout, render};
use crate::services::audit;
use crate::state::AppState;
use crate::templates::audit::{AuditPage, AuditRow};
use crate::templates::format::when;
use axum::extract::{Query, State};
use axum::response::Html;
use domain::{AuditAction, UserId};
use storage::AuditFilter;
use tower_sessions::Session;

const PAGE: i64 = 100;

#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct AuditQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    user: String,
    /// YYYY-MM-DD, from the start of the day (UTC).
    #[serde(default)]
    from: String,
    /// YYYY-MM-DD, to the end of the day (UTC).
    #[serde(default)]
    to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    before: Option<i64>,
}

/// Turns the query into a filter, with a message naming the field for anything unreadable.
fn filter_of(q: &AuditQuery) -> Result<AuditFilter, AppError> {
    let action =
        match q.action.trim() {
            "" => None,
            a => Some(AuditAction::parse(a).ok_or_else(|| {
                AppError::field("action", format!("{a:?} is not an audited event."))
            })?),
        };
    let user = match q.user.trim() {
        "" => None,
        u => Some(UserId::new(
            u.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                AppError::field("user", "An account id is a whole number, such as 42.")
            })?,
        )),
    };
    let day = |field: &'static str, s: &str| -> Result<Option<i64>, AppError> {
        if s.trim().is_empty() {
            return Ok(None);
        }
        let format = time::macros::format_description!("[year]-[month]-[day]");
        time::Date::parse(s.trim(), &format)
            .map(|d| Some(d.midnight().assume_utc().unix_timestamp()))
            .map_err(|_| AppError::field(field, "Give a date as YYYY-MM-DD."))
    };
    Ok(AuditFilter {
        action,
        user,
        since: day("from", &q.from)?,
        until: day("to", &q.to)?.map(|t| t + 86_400),
        before_seq: q.before.filter(|b| *b > 0),
    })
}

#[tracing::instrument(skip_all)]
pub async fn audit_log(
    State(state): State<AppState>,
    session: Session,
    admin: AdminUser,
    origin: Origin,
    Query(query): Query<AuditQuery>,
) -> Result<Html<String>, AppError> {
    let filter = filter_of(&query)?;
    let entries = audit::browse(&state, admin.0.id, &origin, &filter, PAGE).await?;
    let older = (entries.len() as i64 == PAGE)
        .then(|| entries.last().map(|e| e.seq))
        .flatten()
        .and_then(|before| {
            serde_urlencoded::to_string(AuditQuery {
                before: Some(before),
                ..query.clone()
            })
            .ok()
        });
    let person = |id: Option<i64>| id.map_or_else(|| "—".to_owned(), |i| format!("#{i}"));
    let rows = entries
        .into_iter()
        .map(|e| AuditRow {
            seq: e.seq,
            when: when(e.at),
            actor: person(e.actor),
            subject: person(e.subject),
            ip: e.ip.unwrap_or_default(),
            action: e.action,
            detail: e.detail,
        })
        .collect();
    render(AuditPage {
        layout: layout(&state, &session, Some(&admin.0)).await?,
        actions: AuditAction::ALL.iter().map(|a| a.as_str()).collect(),
        action: query.action,
        user: query.user,
        from: query.from,
        to: query.to,
        rows,
        older,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_or_name_the_bad_field() {
        let q = AuditQuery {
            action: "sign_in.failed".into(),
            user: " 42 ".into(),
            from: "2026-12-01".into(),
            to: "2026-12-01".into(),
            before: Some(9),
        };
        let f = filter_of(&q).unwrap();
        assert_eq!(f.action, Some(AuditAction::SignInFailed));
        assert_eq!(f.user, Some(UserId::new(42)));
        assert_eq!(f.until.unwrap() - f.since.unwrap(), 86_400);
        assert_eq!(f.before_seq, Some(9));
        for (bad, field) in [
            (
                AuditQuery {
                    action: "drop table".into(),
                    ..Default::default()
                },
                "action",
            ),
            (
                AuditQuery {
                    user: "-1".into(),
                    ..Default::default()
                },
                "user",
            ),
            (
                AuditQuery {
                    user: "1e9".into(),
                    ..Default::default()
                },
                "user",
            ),
            (
                AuditQuery {
                    from: "12/01/2026".into(),
                    ..Default::default()
                },
                "from",
            ),
            (
                AuditQuery {
                    to: "2026-02-30".into(),
                    ..Default::default()
                },
                "to",
            ),
        ] {
            match filter_of(&bad) {
                Err(AppError::Validation(errors)) => assert_eq!(errors[0].field, field),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
}
