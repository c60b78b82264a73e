//! Knowledge articles: who may read them and how they get published.
//!
//! Draft -> Review -> Published -> Retired. An article keeps the version
//! readers see (`published_version`) apart from the one being worked on, so
//! editing a published article does not take it away from readers while the
//! new text waits for review.

use serde::{Deserialize, Serialize};

use crate::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArticleState {
    Draft,
    Review,
    Published,
    Retired,
}

impl ArticleState {
    pub const ALL: [ArticleState; 4] =
        [ArticleState::Draft, ArticleState::Review, ArticleState::Published, ArticleState::Retired];
    pub fn as_str(self) -> &'static str {
        match self {
            ArticleState::Draft => "draft",
            ArticleState::Review => "review",
            ArticleState::Published => "published",
            ArticleState::Retired => "retired",
        }
    }
    pub fn parse(field: &str, s: &str) -> Result<Self, DomainError> {
        ArticleState::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| DomainError::field(field, "must be draft, review, published or retired"))
    }
}

/// Who may read an article.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Everyone, requesters in the portal included.
    Public,
    /// The desk (agents and up).
    Internal,
    /// Only members of the article's groups (and administrators).
    Restricted,
}

impl Audience {
    pub const ALL: [Audience; 3] = [Audience::Public, Audience::Internal, Audience::Restricted];
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Public => "public",
            Audience::Internal => "internal",
            Audience::Restricted => "restricted",
        }
    }
    pub fn parse(field: &str, s: &str) -> Result<Self, DomainError> {
        Audience::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| DomainError::field(field, "must be public, internal or restricted"))
    }
}

/// The reader, as far as article rights go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    pub user_id: i64,
    /// Agents and up read internal articles.
    pub agent: bool,
    /// Administrators read everything.
    pub admin: bool,
    pub groups: Vec<i64>,
}

/// May this reader read an article with this audience and these groups?
pub fn may_read(reader: &Reader, audience: Audience, article_groups: &[i64]) -> bool {
    match audience {
        Audience::Public => true,
        Audience::Internal => reader.agent,
        Audience::Restricted => reader.admin || article_groups.iter().any(|g| reader.groups.contains(g)),
    }
}

/// Who asks for a workflow step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// Wrote the version under review.
    pub is_author: bool,
    /// Holds the right to review (publish, retire).
    pub reviewer: bool,
}

/// Checks one workflow step. The rule that matters: when review is
/// required, the text is published by a reviewer other than its author;
/// when it is not, a reviewer may publish a draft directly.
///
/// `live`: readers have a published version. An article being edited
/// after publication is in draft or review while readers keep its
/// published text, so it is retired from there too: withdrawing the live
/// text must not wait for the next one to be published.
pub fn check_step(
    from: ArticleState,
    to: ArticleState,
    actor: Actor,
    review_required: bool,
    live: bool,
) -> Result<(), DomainError> {
    use ArticleState::*;
    let refuse = |why: &str| Err(DomainError::field("state", why));
    let edge = matches!(
        (from, to),
        (Draft, Review)
            | (Review, Draft)
            | (Review, Published)
            | (Draft, Published)
            | (Published, Retired)
            | (Retired, Draft)
    ) || (live && matches!((from, to), (Draft | Review, Retired)));
    if !edge {
        return Err(DomainError::Transition { from: from.as_str(), to: to.as_str() });
    }
    match to {
        Published => {
            if !actor.reviewer {
                return refuse("only a reviewer may publish an article");
            }
            if review_required && from == Draft {
                return refuse("this article needs review: submit it for review first");
            }
            if review_required && actor.is_author {
                return refuse("an author cannot publish their own article: another reviewer must");
            }
            Ok(())
        }
        Retired => {
            if actor.reviewer {
                Ok(())
            } else {
                refuse("only a reviewer may retire an article")
            }
        }
        // Sending back from review is the reviewer's call or the author's own.
        Draft if from == Review && !(actor.reviewer || actor.is_author) => {
            refuse("only the author or a reviewer may take an article out of review")
        }
        _ => Ok(()),
    }
}

/// One line of a diff between two versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffLine {
    /// `equal`, `insert` or `delete`.
    pub tag: &'static str,
    pub text: String,
}

/// A line diff of two texts (Myers, from the `similar` crate).
pub fn diff_lines(old: &str, new: &str) -> Vec<DiffLine> {
    let diff = similar::TextDiff::from_lines(old, new);
    diff.iter_all_changes()
        .map(|c| DiffLine {
            tag: match c.tag() {
                similar::ChangeTag::Equal => "equal",
                similar::ChangeTag::Insert => "insert",
                similar::ChangeTag::Delete => "delete",
            },
            text: c.value().trim_end_matches('\n').to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn author_cannot_publish_own_reviewed_article() {
        let author = Actor { is_author: true, reviewer: true };
        let other = Actor { is_author: false, reviewer: true };
        let writer = Actor { is_author: true, reviewer: false };
        use ArticleState::*;
        assert!(check_step(Draft, Review, writer, true, false).is_ok());
        assert!(check_step(Review, Published, author, true, false).is_err());
        assert!(check_step(Review, Published, other, true, false).is_ok());
        assert!(check_step(Draft, Published, other, true, false).is_err());
        assert!(check_step(Draft, Published, author, false, false).is_ok());
        assert!(check_step(Draft, Published, writer, false, false).is_err());
        assert!(check_step(Published, Retired, writer, false, false).is_err());
        assert!(check_step(Retired, Published, other, false, false).is_err());
    }

    /// Readers' published text is withdrawn by a reviewer whatever state
    /// the next text is in; an article never published has none to retire.
    #[test]
    fn a_live_article_is_retired_from_any_state() {
        let reviewer = Actor { is_author: false, reviewer: true };
        let writer = Actor { is_author: true, reviewer: false };
        use ArticleState::*;
        for from in [Draft, Review, Published] {
            assert!(check_step(from, Retired, reviewer, true, true).is_ok(), "{from:?}");
            assert!(check_step(from, Retired, writer, true, true).is_err(), "{from:?}");
        }
        for from in [Draft, Review] {
            assert!(matches!(check_step(from, Retired, reviewer, true, false), Err(DomainError::Transition { .. })));
        }
    }

    #[test]
    fn audiences() {
        let requester = Reader { user_id: 1, agent: false, admin: false, groups: vec![] };
        let agent = Reader { user_id: 2, agent: true, admin: false, groups: vec![7] };
        assert!(may_read(&requester, Audience::Public, &[]));
        assert!(!may_read(&requester, Audience::Internal, &[]));
        assert!(may_read(&agent, Audience::Internal, &[]));
        assert!(may_read(&agent, Audience::Restricted, &[7, 8]));
        assert!(!may_read(&agent, Audience::Restricted, &[8]));
    }

    #[test]
    fn diff_marks_changed_lines() {
        let d = diff_lines("a\nb\nc\n", "a\nB\nc\n");
        let tags: Vec<_> = d.iter().map(|l| (l.tag, l.text.as_str())).collect();
        assert_eq!(tags, [("equal", "a"), ("delete", "b"), ("insert", "B"), ("equal", "c")]);
    }

    proptest! {
        /// Whatever the sequence of steps and actors, no article is ever
        /// published by the author of the text when review is required.
        #[test]
        fn no_self_publishing(steps in prop::collection::vec((prop::sample::select(ArticleState::ALL.to_vec()), any::<bool>(), any::<bool>(), any::<bool>()), 0..30)) {
            let mut state = ArticleState::Draft;
            for (to, is_author, reviewer, live) in steps {
                let actor = Actor { is_author, reviewer };
                if check_step(state, to, actor, true, live).is_ok() {
                    if to == ArticleState::Published {
                        prop_assert!(!is_author && reviewer && state == ArticleState::Review);
                    }
                    if to == ArticleState::Retired {
                        prop_assert!(reviewer && (state == ArticleState::Published || live));
                    }
                    state = to;
                }
            }
        }
    }
}
