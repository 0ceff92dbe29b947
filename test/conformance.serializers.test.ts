/**
 * The serializer conformance suite against the default serializer (no plugins), every
 * serializer plugin, and the user-defined serializer of docs/serializers.md. Daemons run
 * the built packages: build first (the global setup does).
 */
import { arrowCase, defaultCase, onnxCase, polarsCase, temperatureCase } from './conformance/serializer-cases.js';
import { serializerConformance } from './conformance/serializer.js';

serializerConformance(defaultCase);
serializerConformance(arrowCase);
serializerConformance(polarsCase);
serializerConformance(onnxCase);
serializerConformance(temperatureCase);
