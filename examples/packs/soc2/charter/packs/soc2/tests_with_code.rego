# METADATA
# title: Code changes come with test changes
# description: >-
#   SOC 2 CC8.1 asks that changes are designed, developed, tested and approved
#   before they are implemented. A pull request or merge that adds or modifies
#   source code (by file extension) and adds or modifies no test file (a path
#   with a `test`, `tests`, `spec` or `__tests__` directory, or a file named
#   `test_*`, `*_test.*`, `*.test.*` or `*.spec.*`) is asked about: a reviewer
#   confirms how the change was tested.
# related_resources:
#   - ref: https://www.aicpa-cima.com/resources/download/2017-trust-services-criteria-with-revised-points-of-focus-2022
#     description: "AICPA Trust Services Criteria CC8.1: changes are authorised, designed, developed, tested and approved"
# custom:
#   id: SOC2-CC8-1-TESTS-WITH-CODE-001
#   severity: low
#   category: change-management
#   citation: SOC2 CC8.1
#   applies_to:
#     kinds: [pull_request, merge]
package charter.packs.soc2.tests_with_code

import rego.v1

source := `\.(py|js|jsx|ts|tsx|go|java|kt|rb|rs|cs|php|scala|swift|c|cc|cpp|h|hpp)$`

spec_or_test_file := `(^|/)(tests?|spec|__tests__)/|(^|/)test_[^/]*$|_test\.[a-z]+$|\.(test|spec)\.[a-z]+$`

changed contains file.path if {
	some file in input.files
	file.status in {"added", "modified", "renamed"}
}

code := {p | some p in changed; regex.match(source, p); not regex.match(spec_or_test_file, p)}

tests := {p | some p in changed; regex.match(spec_or_test_file, p)}

ask contains {"rule": "SOC2-CC8-1-TESTS-WITH-CODE-001", "msg": msg} if {
	input.kind in {"pull_request", "merge"}
	count(code) > 0
	count(tests) == 0
	msg := sprintf("changes %d source file(s) (%s) and no test; a reviewer confirms how the change was tested", [count(code), concat(", ", array.slice(sort(code), 0, 3))])
}
