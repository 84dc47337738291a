//! Inbenta's satisfaction survey after a live chat, run in the conversation as Inbenta's own
//! PHP connector runs it (`chatbot_api_connector` 1.4.3: `ChatbotConnector::handleSurvey`,
//! `processSurveyData`, `sendSurvey`, and the digester's `askForSurvey`, `nextSurveyQuestion`,
//! `validateSurveyAnswer`; docs/design-notes.md, "The survey after a chat"):
//!
//! 1. once the chat's ticket is made, the user is asked whether to take it (`ask_for_survey`,
//!    yes/no);
//! 2. on yes, each question in turn: free text, or one of its choices (the numbers of a
//!    `min`..`max` range are choices too), by number, label or tap;
//! 3. a reply that is no choice asks the question again; a second one in a row asks whether to
//!    go on (`ask_to_continue_survey`, yes/no);
//! 4. after the last answer every answer is submitted with the survey's token, and the user
//!    thanked (the survey's own thank-you text, else `thanks`).
//!
//! "No" to the offer or to going on ends it with `thanks`, nothing submitted, as the PHP does.
//! Unlike the PHP, which takes anything but "yes" for "no" and keeps the message, a reply that
//! is neither yes nor no to those two questions ends the survey and goes to the bot: a user
//! who leaves the survey for a question gets the bot's answer.
//!
//! No I/O here: the step starts and submits surveys through the `Surveys` port (`ports.rs`).

use crate::labels::{Label, Labels};
use crate::matching;
use crate::reply::{ChoiceOption, Reply, Tap};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A survey started for the ticket of a closed chat: its questions and the token its answers
/// are submitted with.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Survey {
    pub token: String,
    /// The survey's own thank-you text (its `thankyoupage` setting), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thanks: Option<String>,
    /// Its questions in order, every page's.
    pub questions: Vec<Question>,
    /// Its page navigation (`navigatepage`): an answer of this value goes on with that page
    /// only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jumps: Vec<PageJump>,
}

impl fmt::Debug for Survey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Survey")
            .field("token", &"[redacted]")
            .field("thanks", &self.thanks)
            .field("questions", &self.questions)
            .field("jumps", &self.jumps)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    /// The item's id: its answer is submitted under it.
    pub id: String,
    pub page: String,
    /// What the user is asked (the item's first setting).
    pub text: String,
    pub expects: Expects,
}

/// What answers a question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "choices", rename_all = "snake_case")]
pub enum Expects {
    /// Anything the user writes.
    Text,
    /// One of these.
    Choice(Vec<SurveyChoice>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurveyChoice {
    /// What is submitted when it is picked.
    pub value: String,
    /// What the user sees.
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageJump {
    pub value: String,
    pub page: String,
}

/// One answer, as submitted: the question's id and the value given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurveyAnswer {
    pub question: String,
    pub value: String,
}

/// A survey under way in a conversation: what was asked and what was answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurveyRun {
    pub survey: Survey,
    pub stage: Stage,
    /// The questions still to ask, by index, the one asked now first (a page jump drops the
    /// others).
    pub to_ask: Vec<usize>,
    pub answers: Vec<SurveyAnswer>,
}

/// Where the user is in the survey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Stage {
    /// "Do you want to answer a short survey?" was asked.
    Offered,
    /// The first question of `to_ask` was asked; `wrong` replies to it were no choice.
    Asking { wrong: u8 },
    /// Two replies in a row were no choice: "Do you want to go on with the survey?" was asked.
    GoOn,
}

/// What the survey made of the user's reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Something more was asked: the replies, and the survey as it goes on.
    Asked { replies: Vec<Reply>, run: SurveyRun },
    /// Every question is answered: the answers are to be submitted, then the user thanked.
    Answered { survey: Survey, answers: Vec<SurveyAnswer> },
    /// The user said no (to the survey, or to going on): this is said, nothing is submitted.
    Ended(Vec<Reply>),
    /// The reply was no answer to the survey: the survey is dropped and the bot answers it.
    NotAnswered,
}

impl SurveyRun {
    /// The offer of a survey just started, and the run waiting for the user's yes or no; `None`
    /// when the survey asks nothing.
    pub fn offer(survey: Survey, labels: &Labels) -> Option<(Reply, Self)> {
        if survey.questions.is_empty() {
            return None;
        }
        let to_ask = (0..survey.questions.len()).collect();
        Some((yes_no(labels, Label::AskForSurvey), Self { survey, stage: Stage::Offered, to_ask, answers: Vec::new() }))
    }

    /// The user's reply (`text`, or a tapped button's label with its `tap`), never empty.
    pub fn reply(mut self, text: &str, tap: Option<&Tap>, labels: &Labels) -> Outcome {
        match self.stage {
            Stage::Offered => match yes_or_no(text, tap, labels) {
                Some(true) => self.ask_next(labels),
                Some(false) => thanked(labels),
                None => Outcome::NotAnswered,
            },
            Stage::GoOn => match yes_or_no(text, tap, labels) {
                Some(true) => {
                    self.stage = Stage::Asking { wrong: 0 };
                    self.asked(labels)
                }
                Some(false) => thanked(labels),
                None => Outcome::NotAnswered,
            },
            Stage::Asking { wrong } => {
                let Some(question) = self.to_ask.first().and_then(|&i| self.survey.questions.get(i)) else {
                    return self.ask_next(labels);
                };
                let value = match &question.expects {
                    Expects::Text => Some(text.trim().to_owned()).filter(|t| !t.is_empty()),
                    Expects::Choice(choices) => {
                        let labels: Vec<&str> = choices.iter().map(|c| c.label.as_str()).collect();
                        choose(text, tap, &labels).map(|i| choices[i].value.clone())
                    }
                };
                match value {
                    Some(value) => {
                        self.record(value);
                        self.ask_next(labels)
                    }
                    None if wrong >= 1 => {
                        self.stage = Stage::GoOn;
                        Outcome::Asked { replies: vec![yes_no(labels, Label::AskToContinueSurvey)], run: self }
                    }
                    None => {
                        self.stage = Stage::Asking { wrong: wrong + 1 };
                        self.asked(labels)
                    }
                }
            }
        }
    }

    /// The answer to the question asked, and the page it leads to, if it leads to one.
    fn record(&mut self, value: String) {
        let index = self.to_ask.remove(0);
        let questions = &self.survey.questions;
        if let Some(jump) = self.survey.jumps.iter().find(|j| j.value == value) {
            self.to_ask.retain(|&i| questions.get(i).is_some_and(|q| q.page == jump.page));
        }
        self.answers.push(SurveyAnswer { question: questions[index].id.clone(), value });
    }

    /// The next question, or the survey answered.
    fn ask_next(mut self, labels: &Labels) -> Outcome {
        if self.to_ask.is_empty() {
            return Outcome::Answered { survey: self.survey, answers: self.answers };
        }
        self.stage = Stage::Asking { wrong: 0 };
        self.asked(labels)
    }

    /// The question asked now, asked (again).
    fn asked(self, labels: &Labels) -> Outcome {
        let replies = self.question(labels).into_iter().collect();
        Outcome::Asked { replies, run: self }
    }

    /// The question asked now, as the user sees it.
    pub fn question(&self, labels: &Labels) -> Option<Reply> {
        let question = self.survey.questions.get(*self.to_ask.first()?)?;
        Some(match &question.expects {
            Expects::Text => Reply::Text(question.text.clone()),
            Expects::Choice(choices) => Reply::Choice {
                text: question.text.clone(),
                options: choices.iter().map(|c| ChoiceOption::new(c.label.clone())).collect(),
                first_number: 1,
                number_hint: labels.get(Label::TypeANumber).to_owned(),
            },
        })
    }
}

fn thanked(labels: &Labels) -> Outcome {
    Outcome::Ended(vec![Reply::Text(labels.get(Label::Thanks).to_owned())])
}

/// `question` with the channel's yes and no.
fn yes_no(labels: &Labels, question: Label) -> Reply {
    Reply::Choice {
        text: labels.get(question).to_owned(),
        options: vec![ChoiceOption::new(labels.get(Label::Yes)), ChoiceOption::new(labels.get(Label::No))],
        first_number: 1,
        number_hint: labels.get(Label::TypeANumber).to_owned(),
    }
}

/// Yes or no to a [`yes_no`] question: its number, a tap on its button, the label shown or the
/// label's key (`yes`, `no`); `None` for anything else.
fn yes_or_no(text: &str, tap: Option<&Tap>, labels: &Labels) -> Option<bool> {
    let yes = [labels.get(Label::Yes), Label::Yes.key()];
    let no = [labels.get(Label::No), Label::No.key()];
    let labels_of = |i| if i == 0 { yes } else { no };
    let tapped = tap.and_then(|tap| matching::tapped(tap, 2, labels_of));
    tapped.or_else(|| matching::pick(text, 2, labels_of)).map(|i| i == 0)
}

/// The choice a reply picks: a tap on its button, its label (before numbers, so that "3"
/// answers a 0-10 range with 3, not with its third choice), or its number.
fn choose(text: &str, tap: Option<&Tap>, labels: &[&str]) -> Option<usize> {
    let tapped = tap.and_then(|tap| matching::tapped(tap, labels.len(), |i| [labels[i]]));
    let wanted = matching::fold(text);
    tapped
        .or_else(|| labels.iter().position(|l| !wanted.is_empty() && matching::fold(l) == wanted))
        .or_else(|| matching::pick(text, labels.len(), |_| std::iter::empty::<&str>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Labels {
        Labels::from_pairs([
            ("yes", "Sí"),
            ("no", "No"),
            ("thanks", "¡Gracias!"),
            ("type_a_number", "(type a number)"),
            ("ask_for_survey", "¿Una encuesta?"),
            ("ask_to_continue_survey", "¿Seguimos?"),
        ])
    }

    fn choices(pairs: &[(&str, &str)]) -> Expects {
        Expects::Choice(pairs.iter().map(|(value, label)| SurveyChoice { value: (*value).into(), label: (*label).into() }).collect())
    }

    fn question(id: &str, page: &str, expects: Expects) -> Question {
        Question { id: id.into(), page: page.into(), text: format!("Question {id}?"), expects }
    }

    fn survey(questions: Vec<Question>, jumps: Vec<PageJump>) -> Survey {
        Survey { token: "s3cr3t-t0k3n".into(), thanks: None, questions, jumps }
    }

    /// The run after the user said yes to the offer.
    fn accepted(survey: Survey) -> SurveyRun {
        let (_, run) = SurveyRun::offer(survey, &labels()).expect("offered");
        match run.reply("sí", None, &labels()) {
            Outcome::Asked { run, .. } => run,
            other => panic!("not asked: {other:?}"),
        }
    }

    fn answered(outcome: Outcome) -> Vec<(String, String)> {
        match outcome {
            Outcome::Answered { answers, .. } => answers.into_iter().map(|a| (a.question, a.value)).collect(),
            other => panic!("not answered: {other:?}"),
        }
    }

    fn go_on(outcome: Outcome) -> SurveyRun {
        match outcome {
            Outcome::Asked { run, .. } => run,
            other => panic!("not asked: {other:?}"),
        }
    }

    #[test]
    fn a_survey_that_asks_nothing_is_not_offered() {
        assert_eq!(SurveyRun::offer(survey(Vec::new(), Vec::new()), &labels()), None);
    }

    #[test]
    fn yes_and_no_are_taken_by_number_label_key_or_tap_and_anything_else_is_no_answer() {
        let l = labels();
        for (reply, tap, expected) in [
            ("1", None, Some(true)),
            ("SI", None, Some(true)),
            ("yes", None, Some(true)),
            ("Sí", Some(Tap { number: 1, label: "Sí".into() }), Some(true)),
            ("2", None, Some(false)),
            ("no", None, Some(false)),
            ("what are your opening hours?", None, None),
            ("3", None, None),
        ] {
            assert_eq!(yes_or_no(reply, tap.as_ref(), &l), expected, "{reply}");
        }
    }

    #[test]
    fn a_ranges_number_is_taken_as_its_label_before_its_position() {
        let range: Vec<String> = (0..=10).map(|n| n.to_string()).collect();
        let labels: Vec<&str> = range.iter().map(String::as_str).collect();
        assert_eq!(choose("3", None, &labels), Some(3), "3 is the choice labelled 3, not the third");
        assert_eq!(choose("0", None, &labels), Some(0));
        assert_eq!(choose("2", None, &["Good", "Bad"]), Some(1), "a number picks by position when no label is it");
        assert_eq!(choose("bad", None, &["Good", "Bad"]), Some(1));
        assert_eq!(choose("Good", Some(&Tap { number: 2, label: "Good".into() }), &["Good", "Bad"]), Some(0), "an old tap is its label");
        assert_eq!(choose("so so", None, &["Good", "Bad"]), None);
    }

    #[test]
    fn each_question_is_answered_in_turn_and_choices_are_submitted_by_their_value() {
        let run = accepted(survey(
            vec![question("11", "1", choices(&[("v-good", "Good"), ("v-bad", "Bad")])), question("12", "1", Expects::Text)],
            Vec::new(),
        ));
        let run = go_on(run.reply("good", None, &labels()));
        assert_eq!(run.question(&labels()), Some(Reply::Text("Question 12?".into())));
        let answers = answered(run.reply("  Quick and kind  ", None, &labels()));
        assert_eq!(answers, vec![("11".into(), "v-good".into()), ("12".into(), "Quick and kind".into())]);
    }

    #[test]
    fn a_reply_that_is_no_choice_asks_again_then_asks_whether_to_go_on() {
        let run = accepted(survey(vec![question("11", "1", choices(&[("1", "Good"), ("2", "Bad")]))], Vec::new()));
        let Outcome::Asked { replies, run } = run.reply("hmm", None, &labels()) else { panic!("not asked again") };
        assert!(matches!(&replies[..], [Reply::Choice { text, .. }] if text == "Question 11?"), "{replies:?}");
        assert_eq!(run.stage, Stage::Asking { wrong: 1 });
        let Outcome::Asked { replies, run } = run.reply("still hmm", None, &labels()) else { panic!("not asked to go on") };
        assert!(matches!(&replies[..], [Reply::Choice { text, .. }] if text == "¿Seguimos?"), "{replies:?}");

        let Outcome::Asked { replies, run: again } = run.clone().reply("sí", None, &labels()) else { panic!("not going on") };
        assert!(matches!(&replies[..], [Reply::Choice { text, .. }] if text == "Question 11?"));
        assert_eq!(again.stage, Stage::Asking { wrong: 0 }, "the count starts again");
        assert_eq!(run.clone().reply("no", None, &labels()), Outcome::Ended(vec![Reply::Text("¡Gracias!".into())]));
        assert_eq!(run.reply("where is my order?", None, &labels()), Outcome::NotAnswered);
    }

    #[test]
    fn an_answer_that_leads_to_a_page_leaves_out_the_other_pages() {
        let jumps = vec![PageJump { value: "v-bad".into(), page: "3".into() }];
        let questions = vec![
            question("11", "1", choices(&[("v-good", "Good"), ("v-bad", "Bad")])),
            question("21", "2", Expects::Text),
            question("31", "3", Expects::Text),
        ];
        let straight = go_on(accepted(survey(questions.clone(), jumps.clone())).reply("Good", None, &labels()));
        assert_eq!(straight.to_ask, vec![1, 2], "no jump: every page");
        let jumped = go_on(accepted(survey(questions, jumps)).reply("Bad", None, &labels()));
        assert_eq!(jumped.question(&labels()), Some(Reply::Text("Question 31?".into())));
        assert_eq!(
            answered(jumped.reply("too slow", None, &labels())),
            vec![("11".into(), "v-bad".into()), ("31".into(), "too slow".into())]
        );
    }

    #[test]
    fn a_surveys_token_stays_out_of_logs() {
        let shown = format!("{:?}", survey(Vec::new(), Vec::new()));
        assert!(!shown.contains("s3cr3t-t0k3n") && shown.contains("[redacted]"), "{shown}");
    }
}
