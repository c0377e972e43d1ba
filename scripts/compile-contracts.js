#!/usr/bin/env node
// Compiles every contract under contracts/ in one standard-JSON run of the pinned solc (npm
// package `solc`, version pinned in package.json) and writes, per deployable contract,
// abi/<Name>.json (the ABI) and abi/<Name>.bin (creation bytecode, hex), and for the client's
// helpers under contracts/client/ also abi/<Name>.runtime.bin (runtime bytecode). The output depends only
// on the sources and the pinned compiler, so CI can rebuild and compare byte for byte. The
// genuine Safe 1.4.1 artifacts are copied beside them from the pinned npm package.
//
// usage: node scripts/compile-contracts.js OUT_DIR
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const solc = require(path.join(root, 'node_modules', 'solc'));
const outDir = path.resolve(process.argv[2] || path.join(root, 'abi'));

function sources(dir) {
  const found = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...sources(full));
    else if (entry.name.endsWith('.sol')) found.push(full);
  }
  return found.sort();
}

const input = {
  language: 'Solidity',
  sources: {},
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: 'cancun',
    // No metadata hash: the bytecode then depends on the code alone, not on comments or paths.
    metadata: { bytecodeHash: 'none', appendCBOR: false },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
  },
};
for (const file of sources(path.join(root, 'contracts'))) {
  const name = path.relative(root, file).split(path.sep).join('/');
  input.sources[name] = { content: fs.readFileSync(file, 'utf8') };
}

const output = JSON.parse(solc.compile(JSON.stringify(input), {
  import: (p) => {
    const full = path.join(root, p);
    return fs.existsSync(full) ? { contents: fs.readFileSync(full, 'utf8') } : { error: 'not found: ' + p };
  },
}));
const problems = (output.errors || []).filter((e) => e.severity === 'error' || e.type === 'Warning');
for (const e of problems) process.stderr.write(e.formattedMessage + '\n');
if ((output.errors || []).some((e) => e.severity === 'error')) process.exit(1);

const EIP170 = 24576;
const seen = new Map();
fs.mkdirSync(outDir, { recursive: true });
for (const [file, contracts] of Object.entries(output.contracts)) {
  for (const [name, c] of Object.entries(contracts)) {
    if (!c.evm.bytecode.object) continue; // interfaces and abstract contracts
    if (seen.has(name)) {
      process.stderr.write(`contract name ${name} is used in both ${seen.get(name)} and ${file}\n`);
      process.exit(1);
    }
    seen.set(name, file);
    const runtime = c.evm.deployedBytecode.object.length / 2;
    if (runtime > EIP170) {
      process.stderr.write(`${name} runtime code is ${runtime} bytes, over the EIP-170 limit\n`);
      process.exit(1);
    }
    fs.writeFileSync(path.join(outDir, name + '.json'), JSON.stringify(c.abi, null, 2) + '\n');
    fs.writeFileSync(path.join(outDir, name + '.bin'), c.evm.bytecode.object + '\n');
    // The client's helpers run as code placed by state override, so they need their runtime.
    if (file.startsWith('contracts/client/') && c.evm.deployedBytecode.object) {
      fs.writeFileSync(path.join(outDir, name + '.runtime.bin'), c.evm.deployedBytecode.object + '\n');
    }
  }
}
// The genuine Safe contracts, as Safe's own build compiled them (npm
// @safe-global/safe-contracts, pinned in package.json): copied, never rebuilt here.
const safeArtifacts = path.join(root, 'node_modules', '@safe-global', 'safe-contracts', 'build', 'artifacts', 'contracts');
const SAFE = {
  Safe: 'Safe.sol/Safe.json',
  SafeL2: 'SafeL2.sol/SafeL2.json',
  SafeProxyFactory: 'proxies/SafeProxyFactory.sol/SafeProxyFactory.json',
  MultiSendCallOnly: 'libraries/MultiSendCallOnly.sol/MultiSendCallOnly.json',
  CompatibilityFallbackHandler: 'handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json',
};
for (const [name, file] of Object.entries(SAFE)) {
  if (seen.has(name)) {
    process.stderr.write(`contract name ${name} is used in both ${seen.get(name)} and the Safe package\n`);
    process.exit(1);
  }
  const artifact = JSON.parse(fs.readFileSync(path.join(safeArtifacts, file), 'utf8'));
  fs.writeFileSync(path.join(outDir, name + '.json'), JSON.stringify(artifact.abi, null, 2) + '\n');
  fs.writeFileSync(path.join(outDir, name + '.bin'), artifact.bytecode.replace(/^0x/, '') + '\n');
}

process.stdout.write(`compiled ${seen.size} contracts with solc ${solc.version()} and copied ${Object.keys(SAFE).length} Safe artifacts into ${path.relative(root, outDir) || '.'}\n`);
