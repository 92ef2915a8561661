/*
 * options.h: the table of heap options (docs/design/overview.md .overview.api) and what is generated
 * from it.
 *
 * One table in options.c describes every option: its name, type, range,
 * default, doc string and the field of mdn_options it fills. Parsing,
 * environment variables, validation, the help text and the Markdown
 * reference are all driven by that table, so adding an option means adding
 * one row there (and its field to mdn_options).
 *
 * Accepted forms (also in mdn_options_print_help() and the reference):
 *
 *   list    = "" | item { "," item }        no empty items, no spaces
 *   item    = name "=" value
 *   name    = an option name from the table, exactly (lower case)
 *   size    = digits [ unit [ "iB" ] ]      unit K, M, G or T: powers of 1024;
 *                                           unit and "iB" in either case
 *   unsigned= digits
 *   bool    = 1 | 0 | true | false | yes | no | on | off   (either case)
 *   choice  = one of the option's names (either case), e.g. growable
 *   string  = any characters but whitespace and ",", at most max of them
 *             (the default of a string option is empty)
 *   digits  = one or more of 0-9
 *
 * Whitespace anywhere in an item is rejected, not trimmed. A name set twice
 * takes its last value. Environment: MDN_OPTIONS holds a list and is applied
 * first; then MDN_<NAME> (upper case, "-" as "_") holds one value per option.
 * Unset variables are ignored; a variable set to the empty string is an
 * error.
 */
#ifndef MDN_CORE_OPTIONS_H
#define MDN_CORE_OPTIONS_H

#include <midden/midden.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum mdn_option_type {
    MDN_OPTION_SIZE = 0,     /* size_t field; bytes, with a K/M/G/T suffix */
    MDN_OPTION_UNSIGNED = 1, /* unsigned field; plain decimal */
    MDN_OPTION_BOOL = 2,     /* bool field */
    MDN_OPTION_CHOICE = 3,   /* unsigned field; one of a list of names, stored as its index */
    MDN_OPTION_STRING = 4,   /* char[MDN_OPTION_STRING_SIZE] field; min/max bound the length */
} mdn_option_type;

/* One row of the options table. */
typedef struct mdn_option_desc {
    const char *name;       /* as written in an option string: "gc-threads" */
    mdn_option_type type;
    uint64_t min;           /* inclusive; 0 and 1 for booleans */
    uint64_t max;           /* inclusive */
    uint64_t default_value; /* outside [min, max] (only 0): the option is unset by default, and 0 stays accepted */
    size_t offset;          /* of the field in mdn_options */
    const char *doc;        /* one line, no trailing period */
} mdn_option_desc;

/* Number of rows in the options table. */
size_t mdn_options_count(void);

/* Row i in the order the help text lists them, or NULL when i >= mdn_options_count(). */
const mdn_option_desc *mdn_options_describe(size_t i);

/* The names of a CHOICE option, NULL-terminated (NULL for other types). */
const char *const *mdn_option_choices(const mdn_option_desc *d);

/* The row named name (exact match), or NULL. */
const mdn_option_desc *mdn_options_find(const char *name);

/*
 * Write the options reference as Markdown: a table with one row per option
 * (name, environment variable, type, range, default, description) followed
 * by a short paragraph on the accepted value forms.
 */
void mdn_options_write_markdown(FILE *out);

#endif
