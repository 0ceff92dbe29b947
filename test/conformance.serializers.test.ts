/**
 * The serializer conformance suite against the default serializer (no plugins) and every
 * serializer plugin. Daemons run the built packages: build first (the global setup does).
 */
import { arrowCase, defaultCase, onnxCase, polarsCase } from './conformance/serializer-cases.js';
import { serializerConformance } from './conformance/serializer.js';

serializerConformance(defaultCase);
serializerConformance(arrowCase);
serializerConformance(polarsCase);
serializerConformance(onnxCase);
