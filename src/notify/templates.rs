//! Email templates: minijinja files in `config/templates/`, read when the dispatcher starts so a
//! deployment can edit them without a rebuild. `NAME.txt` is the text part (its first line
//! `Subject: …` is the subject), `NAME.html` the HTML part.

use std::path::{Path, PathBuf};

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use super::NotifyError;

/// The loaded templates.
pub struct Templates {
    env: Environment<'static>,
    dir: PathBuf,
}

/// One message, rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The subject line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

impl Templates {
    /// Templates from `dir` (e.g. `config/templates`).
    pub fn load(dir: &Path) -> Result<Templates, NotifyError> {
        if !dir.is_dir() {
            return Err(NotifyError::Template {
                name: dir.display().to_string(),
                message: "is not a directory".into(),
            });
        }
        let mut env = Environment::new();
        env.set_loader(minijinja::path_loader(dir));
        // HTML parts escape every value; text parts print them as they are.
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        // A misspelt variable prints nothing rather than failing a reminder; `workflows check`
        // and the tests render every template against real context.
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.set_keep_trailing_newline(true);
        Ok(Templates {
            env,
            dir: dir.to_path_buf(),
        })
    }

    fn render_file(&self, file: &str, context: &impl Serialize) -> Result<String, NotifyError> {
        let error = |e: minijinja::Error| NotifyError::Template {
            name: self.dir.join(file).display().to_string(),
            message: match e.line() {
                Some(line) => format!("line {line}: {e}"),
                None => e.to_string(),
            },
        };
        let template = self.env.get_template(file).map_err(error)?;
        template.render(context).map_err(error)
    }

    /// Renders template `name` (`NAME.txt` and `NAME.html`) with `context`.
    pub fn render(&self, name: &str, context: &impl Serialize) -> Result<Rendered, NotifyError> {
        let mut rendered = self.render_text(name, context)?;
        rendered.html = self.render_file(&format!("{name}.html"), context)?;
        Ok(rendered)
    }

    /// Renders only the subject and text part of `name` (the HTML part is left empty).
    pub fn render_text(
        &self,
        name: &str,
        context: &impl Serialize,
    ) -> Result<Rendered, NotifyError> {
        let text = self.render_file(&format!("{name}.txt"), context)?;
        let (first, body) = text.split_once('\n').unwrap_or((text.as_str(), ""));
        let subject = first
            .strip_prefix("Subject:")
            .ok_or_else(|| NotifyError::Template {
                name: self.dir.join(format!("{name}.txt")).display().to_string(),
                message: "the first line must be 'Subject: …'".into(),
            })?
            // One line, whatever the values held.
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Rendered {
            subject,
            text: body.trim_start_matches('\n').to_string(),
            html: String::new(),
        })
    }
}
