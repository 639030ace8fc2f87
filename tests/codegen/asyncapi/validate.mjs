// Parses brookc's AsyncAPI documents with the AsyncAPI parser (@asyncapi/parser), Avro payloads
// with @asyncapi/avro-schema-parser, and exits 1 with the diagnostics when any has an error.
//
//   node validate.mjs DOC.json...
//
// The parser checks a 3.x document against the specification's JSON Schema (Kafka bindings,
// and its own schema of Avro for Avro payloads), resolves every $ref and converts Avro schemas
// to JSON Schema; it does not run a custom format's validator on 3.x documents, so every Avro
// schema of a document (any object with an Avro schemaFormat) is also given here to the Avro
// schema parser's validate(), which builds it with avsc: an undefined type name, a bad default
// or a malformed name is an error.
import { readFileSync } from 'node:fs';
import { Parser, fromFile } from '@asyncapi/parser';
import { AvroSchemaParser } from '@asyncapi/avro-schema-parser';

const SEVERITY = ['error', 'warning', 'information', 'hint'];
const avro = AvroSchemaParser();
const parser = new Parser();
parser.registerSchemaParser(avro);

function* avroSchemas(node, path) {
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) yield* avroSchemas(node[i], [...path, i]);
  } else if (node && typeof node === 'object') {
    if (typeof node.schemaFormat === 'string' && avro.getMimeTypes().includes(node.schemaFormat))
      yield { schema: node.schema, path: [...path, 'schema'] };
    for (const [k, v] of Object.entries(node)) yield* avroSchemas(v, [...path, k]);
  }
}

let failed = 0;
for (const file of process.argv.slice(2)) {
  const errors = [];
  const { document, diagnostics } = await fromFile(parser, file).parse();
  for (const d of diagnostics) {
    const line = `${file}: ${SEVERITY[d.severity]} ${d.code}: ${d.message} at /${d.path.join('/')}`;
    if (d.severity === 0) errors.push(line);
    else if (d.severity === 1) console.log(line); // information and hints left out
  }
  if (!document) errors.push(`${file}: the parser returned no document`);
  let count = 0;
  for (const { schema, path } of avroSchemas(JSON.parse(readFileSync(file, 'utf8')), [])) {
    count++;
    for (const d of await avro.validate({ data: schema, path }))
      errors.push(`${file}: error avro-schema: ${d.message} at /${path.join('/')}`);
  }
  if (errors.length) {
    failed++;
    for (const e of errors) console.log(e);
  } else {
    console.log(`${file}: valid AsyncAPI ${document.version()}: ${document.channels().length} ` +
      `channels, ${document.operations().length} operations, ${count} Avro schemas`);
  }
}
console.log(`${process.argv.length - 2 - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
