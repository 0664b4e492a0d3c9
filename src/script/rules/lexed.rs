//! A statement as the rules see it: the splitter's tokens (executable-comment markers
//! dropped, so `/*!40000 ALTER TABLE t DISABLE KEYS */` reads as `ALTER TABLE t ...`), its
//! leading keywords, and the code inside PostgreSQL dollar-quoted routine and `DO` bodies.

use crate::script::split::lexer::{Kind, Lexer, Token};
use crate::script::Dialect;

/// How many leading words decide what a statement is.
const LEADING: usize = 12;

/// The tokens of one statement.
pub(super) struct Lexed<'a> {
    pub src: &'a str,
    /// The statement's own tokens, in order.
    pub tokens: Vec<Token>,
    /// Tokens of code inside dollar-quoted bodies (`DO $$ ... $$`, `CREATE FUNCTION ... AS $$`).
    pub bodies: Vec<Token>,
    /// The leading keywords, upper-cased, with a MySQL `DEFINER = user@host` value left out;
    /// they stop at the first `(`, string or quoted identifier.
    pub words: Vec<String>,
}

impl<'a> Lexed<'a> {
    /// Lexes `src`, which the splitter already accepted (a lexing error only cuts it short).
    pub fn new(src: &'a str, dialect: Dialect) -> Self {
        let tokens = lex(src, 0, dialect);
        let words = leading_words(src, &tokens);
        let mut bodies = Vec::new();
        if matches!(words.first().map(String::as_str), Some("DO" | "CREATE")) {
            body_tokens(src, &tokens, dialect, &mut bodies);
        }
        Lexed {
            src,
            tokens,
            bodies,
            words,
        }
    }

    /// The `n`th leading word, or "".
    pub fn word(&self, n: usize) -> &str {
        self.words.get(n).map_or("", String::as_str)
    }

    /// The text of a token.
    pub fn text(&self, token: &Token) -> &'a str {
        &self.src[token.from..token.to]
    }

    /// Every token that may name something: the statement's and those in code bodies.
    pub fn all(&self) -> impl Iterator<Item = &Token> {
        self.tokens.iter().chain(&self.bodies)
    }

    /// A token's name: a word as written, a quoted identifier without its quotes.
    pub fn name(&self, token: &Token, dialect: Dialect) -> Option<&'a str> {
        let text = self.text(token);
        match token.kind {
            Kind::Word => Some(text),
            Kind::Ident => text.get(1..text.len() - 1),
            // MySQL's double quotes make an identifier under ANSI_QUOTES: be safe.
            Kind::Str if dialect == Dialect::Mysql && text.starts_with('"') => {
                text.get(1..text.len() - 1)
            }
            _ => None,
        }
    }
}

/// The tokens of `src[offset..]`, with offsets into `src`; executable-comment markers dropped.
fn lex(src: &str, offset: usize, dialect: Dialect) -> Vec<Token> {
    let mut lexer = Lexer::new(&src[offset..], dialect);
    let mut tokens = Vec::new();
    while let Ok(Some(mut token)) = lexer.next_token() {
        if !matches!(token.kind, Kind::ExecOpen | Kind::ExecClose) {
            token.from += offset;
            token.to += offset;
            tokens.push(token);
        }
    }
    tokens
}

/// Adds the tokens inside each dollar-quoted body (and bodies nested in those) to `out`.
fn body_tokens(src: &str, tokens: &[Token], dialect: Dialect, out: &mut Vec<Token>) {
    for token in tokens {
        if let Kind::Dollar { tag } = token.kind {
            let inner = &src[..token.to - tag];
            let found = lex(inner, token.from + tag, dialect);
            body_tokens(src, &found, dialect, out);
            out.extend(found);
        }
    }
}

fn leading_words(src: &str, tokens: &[Token]) -> Vec<String> {
    let mut words = Vec::new();
    let mut i = 0;
    while let Some(token) = tokens.get(i) {
        if words.len() == LEADING || token.kind != Kind::Word {
            break;
        }
        let word = src[token.from..token.to].to_ascii_uppercase();
        let is_symbol = |j: usize, c: u8| {
            tokens
                .get(j)
                .is_some_and(|t| t.kind == Kind::Symbol && src.as_bytes()[t.from] == c)
        };
        if word == "DEFINER" && is_symbol(i + 1, b'=') {
            i += 3; // DEFINER = user
            if is_symbol(i, b'@') {
                i += 2; // @ host
            } else if is_symbol(i, b'(') && is_symbol(i + 1, b')') {
                i += 2; // CURRENT_USER()
            }
            continue;
        }
        words.push(word);
        i += 1;
        // `ALGORITHM = MERGE` and the like: skip the `=`, keep reading words
        if is_symbol(i, b'=') {
            i += 1;
        }
    }
    words
}
