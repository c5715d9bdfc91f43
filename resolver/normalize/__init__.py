"""Pure normalization of CRM values: str in, comparable value or None out; tables load once at import."""

from resolver.normalize._limits import MAX_PARSED_CHARS, clip_words
from resolver.normalize.autonames import AutoName, parse_autoname
from resolver.normalize.companies import (
    CompanyName,
    find_legal_form,
    is_valid_inn,
    normalize_inn,
    parse_company_name,
    website_domain,
)
from resolver.normalize.emails import (
    email_domain,
    email_local,
    is_free_mail,
    normalize_email,
    normalize_emails,
    split_emails,
)
from resolver.normalize.junk import clean_text, is_junk
from resolver.normalize.names import (
    NameParts,
    PersonName,
    fold_latin,
    parse_person_name,
    split_name_field,
    transliterate,
)
from resolver.normalize.phones import normalize_phone, normalize_phones, split_phones

__all__ = [
    "MAX_PARSED_CHARS",
    "AutoName",
    "CompanyName",
    "NameParts",
    "PersonName",
    "clean_text",
    "clip_words",
    "email_domain",
    "email_local",
    "find_legal_form",
    "fold_latin",
    "is_free_mail",
    "is_junk",
    "is_valid_inn",
    "normalize_email",
    "normalize_emails",
    "normalize_inn",
    "normalize_phone",
    "normalize_phones",
    "parse_autoname",
    "parse_company_name",
    "parse_person_name",
    "split_emails",
    "split_name_field",
    "split_phones",
    "transliterate",
    "website_domain",
]
