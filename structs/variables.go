package structs

// Root key states.
const (
	// RootKeyActive is the key that seals new variables and signs new
	// workload identities; there is at most one.
	RootKeyActive = "active"
	// RootKeyInactive still opens what it sealed and verifies what it signed.
	RootKeyInactive = "inactive"
)

// RootKeyAlgorithm is the algorithm of every root key drover makes
// (Nomad's name for it).
const RootKeyAlgorithm = "aes256-gcm"
