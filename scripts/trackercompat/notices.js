// notices.js writes the licence notices of every npm package that esbuild
// put in the bundle. Usage (from build.sh):
//
//	node notices.js META.json OUT
//
// META.json is esbuild's --metafile; OUT gets, for each package with code in
// the bundle, its name, version, licence and licence text.
import fs from 'node:fs'
import path from 'node:path'

const [metaFile, outFile] = process.argv.slice(2)
const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8'))

// The package directory of each input that put bytes in the output:
// node_modules/NAME or node_modules/@SCOPE/NAME (the last node_modules in
// the path). Files the "browser" fields disable are left out.
const dirs = new Set()
for (const output of Object.values(meta.outputs)) {
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
    if (bytesInOutput > 0 && !input.startsWith('(disabled):')) addDir(input)
  }
}

function addDir (input) {
  const parts = input.split('/')
  const i = parts.lastIndexOf('node_modules')
  if (i < 0) return
  const n = parts[i + 1].startsWith('@') ? 3 : 2
  dirs.add(parts.slice(0, i + n).join('/'))
}

const names = /^(licen[cs]e|copying)(\.(md|txt))?$/i
const out = []
for (const dir of [...dirs].sort()) {
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
  const files = fs.readdirSync(dir).filter(f => names.test(f)).sort()
  out.push(`${'='.repeat(78)}\n${pkg.name}@${pkg.version} (${pkg.license})\n${'='.repeat(78)}\n`)
  if (files.length === 0) {
    // Say so rather than fail: the licence is still known from package.json.
    const author = typeof pkg.author === 'object' ? pkg.author.name : pkg.author
    out.push(`The package ships no licence file; its package.json says "license": "${pkg.license}"` +
      `${author ? `, "author": "${author}"` : ''}, repository ${JSON.stringify(pkg.repository?.url ?? pkg.repository ?? '')}.\n\n`)
    console.error(`notices: ${pkg.name}@${pkg.version} has no licence file (package.json: ${pkg.license})`)
  }
  for (const f of files) {
    out.push(fs.readFileSync(path.join(dir, f), 'utf8').trim() + '\n\n')
  }
}
fs.writeFileSync(outFile, out.join(''))
console.error(`notices: ${dirs.size} packages`)
