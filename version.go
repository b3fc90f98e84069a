package drover

// Version is drover's version, reported by the HTTP API and the agent.
const Version = "0.1.0-dev"
