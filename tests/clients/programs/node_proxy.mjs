// Whether this Node routes fetch and https.request through HTTPS_PROXY by itself: NODE_USE_ENV_PROXY=1
// is honoured from Node 22.21 and 24.5 on. Older Nodes (20 among them) ignore it silently, so the programs
// fall back to the agents Node 20 users install: undici's EnvHttpProxyAgent and https-proxy-agent.
const [major, minor] = process.versions.node.split('.').map(Number);
export const supportsEnvProxy = major >= 25 || (major === 24 && minor >= 5) || (major === 22 && minor >= 21);

export const nativeEnvProxy = supportsEnvProxy && process.env.NODE_USE_ENV_PROXY === '1';
