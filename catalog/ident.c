/*
 * ident.c: what an identifier may be (catalog.h, "identifiers"). Account
 * codes, work-order numbers and fee codes become folder names under the
 * output root, cells of CSV exports, words in log lines and parts of hot
 * folder batch names, so they are kept to a plain alphabet: no '/', "..",
 * control characters, quotes, spaces or a leading '-', '=', '+' or '@'
 * (which a spreadsheet reads as a formula). A rule, not SQL: every backend
 * checks the same way before it stores anything.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "catalog/catalog.h"
#include "pipeline/base/pm.h"

static int is_alnum(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9');
}

const char *pm_ident_name(pm_ident_kind_t kind)
{
    switch (kind) {
    case PM_IDENT_ACCOUNT:
        return "account code";
    case PM_IDENT_WORKORDER:
        return "work order number";
    case PM_IDENT_FEE:
        return "fee code";
    }
    return "identifier";
}

int pm_ident_check(pm_ident_kind_t kind, const char *s, char *why, size_t size)
{
    /* '_' ends a work order in a batch name (WO-2026-0142_box17). */
    const char *extra = kind == PM_IDENT_WORKORDER ? ".-" : "._-";
    const char *what = pm_ident_name(kind);
    const char *a = strchr("aeiou", what[0]) != NULL ? "an" : "a";
    size_t n = s != NULL ? strlen(s) : 0;
    int max = kind == PM_IDENT_WORKORDER ? PM_IDENT_MAX : PM_CODE_MAX;

    assert(why != NULL && size > 0);
    why[0] = '\0';
    if (n == 0 || n > (size_t)max) {
        snprintf(why, size, "%s %s needs 1 to %d characters", a, what, max);
        return PM_EINVAL;
    }
    if (!is_alnum(s[0])) {
        snprintf(why, size, "%s %s must start with a letter or digit", a, what);
        return PM_EINVAL;
    }
    for (size_t i = 1; i < n; i++) {
        if (!is_alnum(s[i]) && strchr(extra, s[i]) == NULL) {
            snprintf(why, size,
                     "%s: character %zu is not allowed (letters, digits "
                     "and %s only)",
                     what, i + 1,
                     kind == PM_IDENT_WORKORDER ? "'.' '-'" : "'.' '_' '-'");
            return PM_EINVAL;
        }
        if (s[i] == '.' && s[i - 1] == '.') {
            snprintf(why, size, "%s: \"..\" is not allowed", what);
            return PM_EINVAL;
        }
    }
    return 0;
}
