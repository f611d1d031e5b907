import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CRI_IDENTITY_API } from './cri/identity.ts';
import { exerciseResponseCodecs } from './grpc-warm-up.ts';

describe('exerciseResponseCodecs', () => {
  it("runs a sample answer through a method's own encoder and decoder", () => {
    exerciseResponseCodecs(CRI_IDENTITY_API, 'runtime.v1.RuntimeService', { ListContainers: { containers: [{ id: 'c', podSandboxId: 's', metadata: { name: 'n' } }] } });
  });
  it('names a service or method the definition does not have, rather than warming nothing', () => {
    assert.throws(() => exerciseResponseCodecs(CRI_IDENTITY_API, 'runtime.v1.ImageService', {}), /no service runtime\.v1\.ImageService/);
    assert.throws(() => exerciseResponseCodecs(CRI_IDENTITY_API, 'runtime.v1.RuntimeService', { Version: {} }), /no method Version in runtime\.v1\.RuntimeService/);
  });
});
