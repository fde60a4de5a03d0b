# Who authored a proposal, as the citation rules (CITE-*) read it.
#
# This module contributes no deny/ask entries of its own. It is the definition
# every CITE-* rule writes out in its own package (`deny_suffix` and the
# `human_citation == "ask"` test of its ask set: in regorus a reference to this
# package's rules cost each set tens of microseconds), so that all of them
# scope the same way; each rule's Rego tests pin both verdicts:
#
# - Only a proposal whose author.type is exactly "human" is human-authored.
#   Anything else (a missing author, "Human", "", null, a number) counts as an
#   agent's proposal, the stricter reading, and a citation problem is denied.
# - On a human-authored proposal the constitution parameter human_citation
#   picks the verdict: "ask" (the default) or "deny". Any other value,
#   including a missing parameter, is read as "deny" (fail closed).
package charter.constitution.citation.authorship

import rego.v1

# `value[key]`, or null when `value` is not an object or has no such key.
get(value, key) := object.get(value, key, null) if is_object(value)

else := null

human_author(author) if get(author, "type") == "human"

# The verdict of a CITE-* finding for this author under these parameters.
verdict_for(author, parameters) := "ask" if {
	human_author(author)
	get(parameters, "human_citation") == "ask"
} else := "deny"

# The author and the parameters, read without copying the whole context (a
# decision evaluates every CITE-* set separately, so this runs ten times).
author := object.get(input, "author", null)

parameters := object.get(input, ["context", "parameters"], null)

# The verdict a CITE-* finding gets on this proposal: "deny" or "ask".
verdict := verdict_for(author, parameters)

# What a CITE-* message adds so the reader knows why it is an ask or a deny.
suffix_for(author, parameters) := "" if {
	not human_author(author)
} else := sprintf(
	" (human-authored proposal: parameter human_citation makes this %s)",
	[verdict_for(author, parameters)],
)

suffix := suffix_for(author, parameters)
