//! Slack's documented Block Kit limits (docs.slack.dev/reference/block-kit), checked when a
//! message or view is built: a field past its limit is an error naming the field, the
//! limit and what it holds, never a panic and never a silent cut (Slack would refuse the
//! call with `invalid_blocks`, or cut the text).

use super::block::{Block, Input};
use super::composition::{Confirm, OptionGroup, SelectOption};
use super::elements::{
    Accessory, ActionElement, Button, Choices, ContextActionElement, ContextElement, ImageElement,
    InputElement, Overflow, Picker, PlainTextInput, Select,
};
use super::limit_error::{LimitError, Unit};
use super::responses::OptionsResponse;
use super::surface::{Message, View};
use super::text::{PlainText, Text};

/// Blocks in one message.
pub const MESSAGE_BLOCKS: usize = 50;
/// Blocks in one modal or Home tab.
pub const VIEW_BLOCKS: usize = 100;
/// Slack cuts a message's text beyond this.
pub const MESSAGE_TEXT: usize = 40_000;
const ID: usize = 255;

type Checked = Result<(), LimitError>;

fn chars(field: impl FnOnce() -> String, text: &str, limit: usize) -> Checked {
    let actual = text.chars().count();
    if actual > limit {
        return Err(LimitError {
            field: field(),
            limit,
            actual,
            unit: Unit::Characters,
        });
    }
    Ok(())
}

fn items(field: impl FnOnce() -> String, actual: usize, limit: usize) -> Checked {
    if actual > limit {
        return Err(LimitError {
            field: field(),
            limit,
            actual,
            unit: Unit::Items,
        });
    }
    Ok(())
}

fn optional(field: impl FnOnce() -> String, text: Option<&str>, limit: usize) -> Checked {
    text.map_or(Ok(()), |text| chars(field, text, limit))
}

impl Message {
    /// The first field past one of Slack's documented limits, if any.
    pub fn check(&self) -> Result<(), LimitError> {
        check_message(self)
    }
}

impl View {
    /// The first field past one of Slack's documented limits, if any.
    pub fn check(&self) -> Result<(), LimitError> {
        check_view(self)
    }
}

fn check_message(message: &Message) -> Checked {
    optional(|| "text".to_owned(), message.text.as_deref(), MESSAGE_TEXT)?;
    check_blocks(&message.blocks, MESSAGE_BLOCKS)
}

fn check_view(view: &View) -> Checked {
    match view {
        View::Modal(modal) => {
            chars(|| "title".to_owned(), &modal.title.text, 24)?;
            plain(|| "submit".to_owned(), modal.submit.as_ref(), 24)?;
            plain(|| "close".to_owned(), modal.close.as_ref(), 24)?;
            optional(
                || "callback_id".to_owned(),
                modal.callback_id.as_deref(),
                ID,
            )?;
            optional(
                || "private_metadata".to_owned(),
                modal.private_metadata.as_deref(),
                3000,
            )?;
            check_blocks(&modal.blocks, VIEW_BLOCKS)
        }
        View::Home(home) => {
            optional(|| "callback_id".to_owned(), home.callback_id.as_deref(), ID)?;
            optional(
                || "private_metadata".to_owned(),
                home.private_metadata.as_deref(),
                3000,
            )?;
            check_blocks(&home.blocks, VIEW_BLOCKS)
        }
        View::Unknown(_) => Ok(()),
    }
}

fn plain(field: impl FnOnce() -> String, text: Option<&PlainText>, limit: usize) -> Checked {
    optional(field, text.map(|t| t.text.as_str()), limit)
}

fn check_blocks(blocks: &[Block], limit: usize) -> Checked {
    items(|| "blocks".to_owned(), blocks.len(), limit)?;
    for (i, block) in blocks.iter().enumerate() {
        let at = |field: &str| format!("blocks[{i}].{field}");
        optional(|| at("block_id"), block.block_id(), ID)?;
        check_block(block, &at)?;
    }
    Ok(())
}

fn check_block(block: &Block, at: &dyn Fn(&str) -> String) -> Checked {
    match block {
        Block::Section(section) => {
            if let Some(text) = &section.text {
                chars(|| at("text"), text.text(), 3000)?;
            }
            let fields = section.fields.as_deref().unwrap_or_default();
            items(|| at("fields"), fields.len(), 10)?;
            for (i, field) in fields.iter().enumerate() {
                chars(|| at(&format!("fields[{i}]")), field.text(), 2000)?;
            }
            match &section.accessory {
                Some(accessory) => {
                    check_accessory(accessory, &|f: &str| at(&format!("accessory.{f}")))
                }
                None => Ok(()),
            }
        }
        Block::Actions(actions) => {
            items(|| at("elements"), actions.elements.len(), 25)?;
            for (i, element) in actions.elements.iter().enumerate() {
                check_action(element, &|f: &str| at(&format!("elements[{i}].{f}")))?;
            }
            Ok(())
        }
        Block::Context(context) => {
            items(|| at("elements"), context.elements.len(), 10)?;
            for (i, element) in context.elements.iter().enumerate() {
                if let ContextElement::Image(image) = element {
                    let at = |f: &str| at(&format!("elements[{i}].{f}"));
                    optional(|| at("image_url"), image.image_url.as_deref(), 3000)?;
                    chars(|| at("alt_text"), &image.alt_text, 2000)?;
                }
            }
            Ok(())
        }
        Block::Header(header) => chars(|| at("text"), &header.text.text, 150),
        Block::Image(image) => {
            optional(|| at("image_url"), image.image_url.as_deref(), 3000)?;
            chars(|| at("alt_text"), &image.alt_text, 2000)?;
            plain(|| at("title"), image.title.as_ref(), 2000)
        }
        Block::Input(input) => check_input(input, at),
        Block::Markdown(markdown) => chars(|| at("text"), &markdown.text, 12_000),
        Block::ContextActions(actions) => {
            items(|| at("elements"), actions.elements.len(), 5)?;
            for (i, element) in actions.elements.iter().enumerate() {
                if let ContextActionElement::FeedbackButtons(buttons) = element {
                    let at = |f: &str| at(&format!("elements[{i}].{f}"));
                    optional(|| at("action_id"), Some(&buttons.action_id), ID)?;
                    for (side, button) in [
                        ("positive_button", &buttons.positive_button),
                        ("negative_button", &buttons.negative_button),
                    ] {
                        chars(|| at(&format!("{side}.text")), &button.text.text, 75)?;
                        chars(|| at(&format!("{side}.value")), &button.value, 2000)?;
                    }
                }
            }
            Ok(())
        }
        // Nothing of their own to check, or not known to this version.
        Block::Divider(_) | Block::Unknown(_) => Ok(()),
    }
}

fn check_input(input: &Input, at: &dyn Fn(&str) -> String) -> Checked {
    chars(|| at("label"), &input.label.text, 2000)?;
    plain(|| at("hint"), input.hint.as_ref(), 2000)?;
    let element = |f: &str| at(&format!("element.{f}"));
    let checked = match &input.element {
        InputElement::PlainTextInput(text) => Element::TextInput(text),
        InputElement::StaticSelect(s)
        | InputElement::MultiStaticSelect(s)
        | InputElement::ExternalSelect(s)
        | InputElement::UsersSelect(s)
        | InputElement::ConversationsSelect(s)
        | InputElement::ChannelsSelect(s) => Element::Select(s),
        InputElement::DatePicker(p) | InputElement::TimePicker(p) => Element::Picker(p),
        InputElement::Checkboxes(c) | InputElement::RadioButtons(c) => Element::Choices(c),
        InputElement::Unknown(_) => return Ok(()),
    };
    check_element(checked, &element)
}

fn check_accessory(accessory: &Accessory, at: &dyn Fn(&str) -> String) -> Checked {
    let element = match accessory {
        Accessory::Button(button) => Element::Button(button),
        Accessory::Overflow(overflow) => Element::Overflow(overflow),
        Accessory::Image(image) => Element::Image(image),
        Accessory::StaticSelect(s)
        | Accessory::MultiStaticSelect(s)
        | Accessory::ExternalSelect(s)
        | Accessory::UsersSelect(s)
        | Accessory::ConversationsSelect(s)
        | Accessory::ChannelsSelect(s) => Element::Select(s),
        Accessory::DatePicker(p) | Accessory::TimePicker(p) => Element::Picker(p),
        Accessory::Checkboxes(c) | Accessory::RadioButtons(c) => Element::Choices(c),
        Accessory::Unknown(_) => return Ok(()),
    };
    check_element(element, at)
}

fn check_action(element: &ActionElement, at: &dyn Fn(&str) -> String) -> Checked {
    let element = match element {
        ActionElement::Button(button) => Element::Button(button),
        ActionElement::Overflow(overflow) => Element::Overflow(overflow),
        ActionElement::StaticSelect(s)
        | ActionElement::MultiStaticSelect(s)
        | ActionElement::ExternalSelect(s)
        | ActionElement::UsersSelect(s)
        | ActionElement::ConversationsSelect(s)
        | ActionElement::ChannelsSelect(s) => Element::Select(s),
        ActionElement::DatePicker(p) | ActionElement::TimePicker(p) => Element::Picker(p),
        ActionElement::Checkboxes(c) | ActionElement::RadioButtons(c) => Element::Choices(c),
        ActionElement::Unknown(_) => return Ok(()),
    };
    check_element(element, at)
}

/// An element of whichever container, as far as its limits go.
enum Element<'a> {
    Button(&'a Button),
    Overflow(&'a Overflow),
    Image(&'a ImageElement),
    Select(&'a Select),
    Picker(&'a Picker),
    Choices(&'a Choices),
    TextInput(&'a PlainTextInput),
}

fn check_element(element: Element<'_>, at: &dyn Fn(&str) -> String) -> Checked {
    match element {
        Element::Button(button) => check_button(button, at),
        Element::Overflow(overflow) => {
            chars(|| at("action_id"), &overflow.action_id, ID)?;
            check_options(&overflow.options, 5, at)?;
            check_confirm(overflow.confirm.as_ref(), at)
        }
        Element::Image(image) => {
            optional(|| at("image_url"), image.image_url.as_deref(), 3000)?;
            chars(|| at("alt_text"), &image.alt_text, 2000)
        }
        Element::Select(select) => check_select(select, at),
        Element::Picker(picker) => {
            chars(|| at("action_id"), &picker.action_id, ID)?;
            plain(|| at("placeholder"), picker.placeholder.as_ref(), 150)?;
            check_confirm(picker.confirm.as_ref(), at)
        }
        Element::Choices(choices) => check_choices(choices, at),
        Element::TextInput(text) => {
            chars(|| at("action_id"), &text.action_id, ID)?;
            plain(|| at("placeholder"), text.placeholder.as_ref(), 150)
        }
    }
}

fn check_button(button: &Button, at: &dyn Fn(&str) -> String) -> Checked {
    chars(|| at("text"), &button.text.text, 75)?;
    chars(|| at("action_id"), &button.action_id, ID)?;
    optional(|| at("value"), button.value.as_deref(), 2000)?;
    optional(|| at("url"), button.url.as_deref(), 3000)?;
    check_confirm(button.confirm.as_ref(), at)
}

fn check_select(select: &Select, at: &dyn Fn(&str) -> String) -> Checked {
    chars(|| at("action_id"), &select.action_id, ID)?;
    plain(|| at("placeholder"), select.placeholder.as_ref(), 150)?;
    check_options(select.options.as_deref().unwrap_or_default(), 100, at)?;
    check_groups(select.option_groups.as_deref().unwrap_or_default(), at)?;
    check_confirm(select.confirm.as_ref(), at)
}

fn check_choices(choices: &Choices, at: &dyn Fn(&str) -> String) -> Checked {
    chars(|| at("action_id"), &choices.action_id, ID)?;
    check_options(&choices.options, 10, at)?;
    check_confirm(choices.confirm.as_ref(), at)
}

fn check_groups(groups: &[OptionGroup], at: &dyn Fn(&str) -> String) -> Checked {
    items(|| at("option_groups"), groups.len(), 100)?;
    for (i, group) in groups.iter().enumerate() {
        let at = |f: &str| at(&format!("option_groups[{i}].{f}"));
        chars(|| at("label"), &group.label.text, 75)?;
        check_options(&group.options, 100, &at)?;
    }
    Ok(())
}

fn check_options(options: &[SelectOption], limit: usize, at: &dyn Fn(&str) -> String) -> Checked {
    items(|| at("options"), options.len(), limit)?;
    for (i, option) in options.iter().enumerate() {
        let at = |f: &str| at(&format!("options[{i}].{f}"));
        chars(|| at("text"), option.text.text(), 75)?;
        chars(|| at("value"), &option.value, 150)?;
        if let Some(description) = &option.description {
            chars(|| at("description"), description.text(), 75)?;
        }
        optional(|| at("url"), option.url.as_deref(), 3000)?;
    }
    Ok(())
}

fn check_confirm(confirm: Option<&Confirm>, at: &dyn Fn(&str) -> String) -> Checked {
    let Some(confirm) = confirm else {
        return Ok(());
    };
    chars(|| at("confirm.title"), &confirm.title.text, 100)?;
    chars(|| at("confirm.text"), confirm.text.text(), 300)?;
    chars(|| at("confirm.confirm"), &confirm.confirm.text, 30)?;
    chars(|| at("confirm.deny"), &confirm.deny.text, 30)
}

impl Text {
    /// Its length as Slack counts it.
    pub fn chars(&self) -> usize {
        self.text().chars().count()
    }
}

impl OptionsResponse {
    /// At most 100 options, or 100 groups of 100: the first past that, if any.
    pub fn check(&self) -> Result<(), LimitError> {
        let at = |f: &str| f.to_owned();
        match self {
            OptionsResponse::Options(options) => check_options(options, 100, &at),
            OptionsResponse::OptionGroups(groups) => check_groups(groups, &at),
        }
    }
}
