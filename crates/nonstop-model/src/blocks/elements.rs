//! Interactive elements, and for each block that holds elements the enum of those it allows:
//! an element a block does not take is not a variant of its enum, so it does not compile.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::composition::{Confirm, OptionGroup, SelectOption, Style};
use super::open_enum::open_enum;
use super::text::{PlainText, Text};

/// A button: sends a `block_actions` interaction with its `action_id` and `value`, or opens
/// `url`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Button {
    pub text: PlainText,
    /// Names the action in the interaction Slack sends (Slack makes one up when it is empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub action_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<Style>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<Confirm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accessibility_label: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Button {
    /// A button labelled `text` that sends `action_id`.
    pub fn new(text: impl Into<PlainText>, action_id: impl Into<String>) -> Self {
        Button {
            text: text.into(),
            action_id: action_id.into(),
            ..Button::default()
        }
    }

    pub fn value(mut self, value: impl Into<String>) -> Self {
        self.value = Some(value.into());
        self
    }

    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    pub fn style(mut self, style: Style) -> Self {
        self.style = Some(style);
        self
    }

    pub fn confirm(mut self, confirm: Confirm) -> Self {
        self.confirm = Some(confirm);
        self
    }
}

/// A select menu, of any source: its kind is the variant that holds it (`StaticSelect`,
/// `UsersSelect`, …), so one type serves them all and the fields a kind has no use for stay
/// empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Select {
    /// Names the action in the interaction Slack sends (Slack makes one up when it is empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub action_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<PlainText>,
    /// Static selects: the options (or `option_groups`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<SelectOption>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option_groups: Option<Vec<OptionGroup>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_option: Option<SelectOption>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_options: Option<Vec<SelectOption>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_conversation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_channel: Option<String>,
    /// External selects: characters typed before the bot is asked for options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_query_length: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_selected_items: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<Confirm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub focus_on_load: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Select {
    /// A select that sends `action_id`; give it options for a static one.
    pub fn new(action_id: impl Into<String>) -> Self {
        Select {
            action_id: action_id.into(),
            ..Select::default()
        }
    }

    pub fn placeholder(mut self, placeholder: impl Into<PlainText>) -> Self {
        self.placeholder = Some(placeholder.into());
        self
    }

    pub fn options(mut self, options: Vec<SelectOption>) -> Self {
        self.options = Some(options);
        self
    }

    pub fn initial_option(mut self, option: SelectOption) -> Self {
        self.initial_option = Some(option);
        self
    }
}

/// The `⋯` menu: up to five options, each sending its value or opening its link.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Overflow {
    /// Names the action in the interaction Slack sends (Slack makes one up when it is empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub action_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<SelectOption>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<Confirm>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Overflow {
    pub fn new(action_id: impl Into<String>, options: Vec<SelectOption>) -> Self {
        Overflow {
            action_id: action_id.into(),
            options,
            ..Overflow::default()
        }
    }
}

/// A date picker (`initial_date` as `YYYY-MM-DD`) or a time picker (`initial_time` as
/// `HH:mm`): the variant that holds it says which.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Picker {
    /// Names the action in the interaction Slack sends (Slack makes one up when it is empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub action_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<PlainText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<Confirm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub focus_on_load: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Picker {
    pub fn new(action_id: impl Into<String>) -> Self {
        Picker {
            action_id: action_id.into(),
            ..Picker::default()
        }
    }
}

/// Checkboxes or radio buttons (the variant says which): options shown all at once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Choices {
    /// Names the action in the interaction Slack sends (Slack makes one up when it is empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub action_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<SelectOption>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_options: Option<Vec<SelectOption>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_option: Option<SelectOption>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<Confirm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub focus_on_load: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Choices {
    pub fn new(action_id: impl Into<String>, options: Vec<SelectOption>) -> Self {
        Choices {
            action_id: action_id.into(),
            options,
            ..Choices::default()
        }
    }
}

/// A text field in an input block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlainTextInput {
    /// Names the action in the interaction Slack sends (Slack makes one up when it is empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub action_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<PlainText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiline: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub focus_on_load: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl PlainTextInput {
    pub fn new(action_id: impl Into<String>) -> Self {
        PlainTextInput {
            action_id: action_id.into(),
            ..PlainTextInput::default()
        }
    }

    pub fn multiline(mut self) -> Self {
        self.multiline = Some(true);
        self
    }

    pub fn placeholder(mut self, placeholder: impl Into<PlainText>) -> Self {
        self.placeholder = Some(placeholder.into());
        self
    }
}

/// A small image inside a section or a context block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageElement {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// Instead of a URL: a file uploaded to Slack (`{"id": …}` or `{"url": …}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_file: Option<Value>,
    pub alt_text: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ImageElement {
    pub fn new(image_url: impl Into<String>, alt_text: impl Into<String>) -> Self {
        ImageElement {
            image_url: Some(image_url.into()),
            alt_text: alt_text.into(),
            ..ImageElement::default()
        }
    }
}

open_enum! {
    /// What a section block takes as its accessory.
    pub enum Accessory {
        Button(Button) = "button",
        Overflow(Overflow) = "overflow",
        Image(ImageElement) = "image",
        StaticSelect(Select) = "static_select",
        MultiStaticSelect(Select) = "multi_static_select",
        ExternalSelect(Select) = "external_select",
        UsersSelect(Select) = "users_select",
        ConversationsSelect(Select) = "conversations_select",
        ChannelsSelect(Select) = "channels_select",
        DatePicker(Picker) = "datepicker",
        TimePicker(Picker) = "timepicker",
        Checkboxes(Choices) = "checkboxes",
        RadioButtons(Choices) = "radio_buttons",
    }
}

open_enum! {
    /// What an actions block holds.
    pub enum ActionElement {
        Button(Button) = "button",
        Overflow(Overflow) = "overflow",
        StaticSelect(Select) = "static_select",
        MultiStaticSelect(Select) = "multi_static_select",
        ExternalSelect(Select) = "external_select",
        UsersSelect(Select) = "users_select",
        ConversationsSelect(Select) = "conversations_select",
        ChannelsSelect(Select) = "channels_select",
        DatePicker(Picker) = "datepicker",
        TimePicker(Picker) = "timepicker",
        Checkboxes(Choices) = "checkboxes",
        RadioButtons(Choices) = "radio_buttons",
    }
}

/// One of the two feedback buttons (`positive_button`, `negative_button`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedbackButton {
    pub text: PlainText,
    /// What the click sends as the action's value.
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accessibility_label: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl FeedbackButton {
    pub fn new(text: impl Into<PlainText>, value: impl Into<String>) -> Self {
        FeedbackButton {
            text: text.into(),
            value: value.into(),
            ..FeedbackButton::default()
        }
    }

    /// What a screen reader says for it.
    pub fn accessibility_label(mut self, label: impl Into<String>) -> Self {
        self.accessibility_label = Some(label.into());
        self
    }
}

/// Thumbs up and down under an agent's answer: a click sends a `block_actions` whose action
/// (of kind `feedback_buttons`) carries the clicked button's value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedbackButtons {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub action_id: String,
    pub positive_button: FeedbackButton,
    pub negative_button: FeedbackButton,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl FeedbackButtons {
    /// 👍 (value `positive`) and 👎 (value `negative`), sending `action_id`.
    pub fn new(action_id: impl Into<String>) -> Self {
        FeedbackButtons {
            action_id: action_id.into(),
            positive_button: FeedbackButton::new("👍", "positive")
                .accessibility_label("Good answer"),
            negative_button: FeedbackButton::new("👎", "negative")
                .accessibility_label("Bad answer"),
            extra: Map::new(),
        }
    }

    pub fn positive(mut self, button: FeedbackButton) -> Self {
        self.positive_button = button;
        self
    }

    pub fn negative(mut self, button: FeedbackButton) -> Self {
        self.negative_button = button;
        self
    }
}

open_enum! {
    /// What a context actions block holds: actions on the message it closes, such as an
    /// agent's feedback buttons.
    pub enum ContextActionElement {
        FeedbackButtons(FeedbackButtons) = "feedback_buttons",
    }
}

impl From<FeedbackButtons> for ContextActionElement {
    fn from(buttons: FeedbackButtons) -> Self {
        ContextActionElement::FeedbackButtons(buttons)
    }
}

open_enum! {
    /// What a context block holds: small images and text.
    pub enum ContextElement {
        Image(ImageElement) = "image",
        Plain(PlainText) = "plain_text",
        Mrkdwn(super::text::Mrkdwn) = "mrkdwn",
    }
}

open_enum! {
    /// What an input block asks with.
    pub enum InputElement {
        PlainTextInput(PlainTextInput) = "plain_text_input",
        StaticSelect(Select) = "static_select",
        MultiStaticSelect(Select) = "multi_static_select",
        ExternalSelect(Select) = "external_select",
        UsersSelect(Select) = "users_select",
        ConversationsSelect(Select) = "conversations_select",
        ChannelsSelect(Select) = "channels_select",
        DatePicker(Picker) = "datepicker",
        TimePicker(Picker) = "timepicker",
        Checkboxes(Choices) = "checkboxes",
        RadioButtons(Choices) = "radio_buttons",
    }
}

impl From<Button> for Accessory {
    fn from(button: Button) -> Self {
        Accessory::Button(button)
    }
}

impl From<ImageElement> for Accessory {
    fn from(image: ImageElement) -> Self {
        Accessory::Image(image)
    }
}

impl From<Overflow> for Accessory {
    fn from(overflow: Overflow) -> Self {
        Accessory::Overflow(overflow)
    }
}

impl From<Button> for ActionElement {
    fn from(button: Button) -> Self {
        ActionElement::Button(button)
    }
}

impl From<Overflow> for ActionElement {
    fn from(overflow: Overflow) -> Self {
        ActionElement::Overflow(overflow)
    }
}

impl From<ImageElement> for ContextElement {
    fn from(image: ImageElement) -> Self {
        ContextElement::Image(image)
    }
}

impl From<Text> for ContextElement {
    fn from(text: Text) -> Self {
        match text {
            Text::Plain(plain) => ContextElement::Plain(plain),
            Text::Mrkdwn(mrkdwn) => ContextElement::Mrkdwn(mrkdwn),
        }
    }
}

impl From<PlainTextInput> for InputElement {
    fn from(input: PlainTextInput) -> Self {
        InputElement::PlainTextInput(input)
    }
}
