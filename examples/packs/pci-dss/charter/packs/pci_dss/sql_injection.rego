# METADATA
# title: SQL is not built by string formatting
# description: >-
#   PCI DSS v4.0 6.2.4: software engineering techniques prevent or mitigate
#   common attacks, including injection attacks (SQL). An added source line
#   that passes a query built by string formatting or concatenation to a
#   database call — a Python f-string, `%` or `.format()`, a JavaScript template
#   literal with `${…}`, `+` concatenation, or Go `fmt.Sprintf` of a statement —
#   is asked about: a reviewer confirms it uses bound parameters instead. A
#   heuristic over single lines of the patch; test files are not judged.
# related_resources:
#   - ref: https://docs-prv.pcisecuritystandards.org/PCI%20DSS/Standard/PCI-DSS-v4_0.pdf
#     description: "PCI DSS v4.0, Requirement 6.2.4 (prevent common software attacks: injection)"
#   - ref: https://cheatsheetseries.owasp.org/cheatsheets/SQL_Injection_Prevention_Cheat_Sheet.html
#     description: "OWASP SQL Injection Prevention Cheat Sheet"
# custom:
#   id: PCI-6-2-4-SQL-INJECTION-001
#   severity: high
#   category: secure-coding
#   citation: PCI DSS v4.0 6.2.4
#   applies_to:
#     paths: ["**/*.py", "**/*.js", "**/*.ts", "**/*.go", "**/*.java", "**/*.rb", "**/*.php", "**/*.cs"]
package charter.packs.pci_dss.sql_injection

import rego.v1

import data.charter.packs.pci_dss.lib.patch

files := patch.changed(["**/*.py", "**/*.js", "**/*.ts", "**/*.go", "**/*.java", "**/*.rb", "**/*.php", "**/*.cs"])

spec_or_test_file := `(^|/)(tests?|spec|__tests__|testdata)/|(^|/)test_[^/]*$|_test\.[a-z]+$|\.(test|spec)\.[a-z]+$`

call := `(?i)\b(execute|executemany|exec|query|raw|rawQuery|executeQuery|executeUpdate|createQuery|prepareStatement|Exec|Query|QueryRow)\s*\(\s*`

statement := `(select|insert|update|delete|merge|drop)\b`

patterns := [
	concat("", [call, `f["']\s*`, statement, `[^"']*\{`]),
	concat("", [call, `["']\s*`, statement, `[^"']*["']\s*(%|\+|\.format\()`]),
	concat("", [call, "`\\s*", statement, "[^`]*\\$\\{"]),
	concat("", [`(?i)Sprintf\(\s*"\s*`, statement]),
]

# What every pattern's match holds, within one line: a call, or Sprintf, whose first
# argument opens a string (`[^\S\n]` is `\s` without the newline).
prefilter := `(?i)(exec|query|raw|preparestatement)\w*[^\S\n]*\([^\S\n]*f?["'\x60]|sprintf\([^\S\n]*"`

ask contains {"rule": "PCI-6-2-4-SQL-INJECTION-001", "msg": msg} if {
	some file in files
	not regex.match(spec_or_test_file, file.path)
	some line in patch.within(patch.candidates(file, prefilter), concat("|", patterns))
	some p in patterns
	regex.match(p, line)
	msg := sprintf("%s: `%s` builds SQL from strings; a reviewer confirms the values are bound parameters (PCI DSS 6.2.4)", [file.path, trim_space(line)])
}
