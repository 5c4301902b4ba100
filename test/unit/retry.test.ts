// Which kubectl failures are retried, with kubectl's own words as the local cluster printed them.
import { describe, expect, test } from '@jest/globals';
import { DEFAULT_RETRY, isTransient, nextPause } from '../../src/kube/retry.js';

describe('isTransient', () => {
  test.each([
    'The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?',
    'Unable to connect to the server: net/http: TLS handshake timeout',
    'Unable to connect to the server: dial tcp 127.0.0.1:6443: i/o timeout',
    'Error from server (ServiceUnavailable): the server is currently unable to handle the request',
    'Error from server (TooManyRequests): the server has received too many requests and has asked us to try again later',
    'Error from server: etcdserver: leader changed',
    'Error from server (Timeout): Timeout: request did not complete within requested timeout - context deadline exceeded',
    'error: http2: client connection lost',
    'Error from server (InternalError): Internal error occurred: resource quota evaluation timed out',
    'Get "https://127.0.0.1:6443/api?timeout=32s": unexpected EOF',
  ])('%s', (stderr) => expect(isTransient(stderr)).toBe(true));

  test.each([
    'Error from server (NotFound): deployments.apps "backend" not found',
    'Error from server (Forbidden): deployments.apps is forbidden: User "system:serviceaccount:medaudit:deployer" cannot list resource',
    'error: unable to find specified revision 7 in history',
    'Error from server (Conflict): Operation cannot be fulfilled on leases.coordination.k8s.io "medaudit-deploy-lock": the object has been modified',
    'Error from server (Invalid): Deployment.apps "backend" is invalid: spec.template.spec.containers[0].image: Required value',
  ])('not: %s', (stderr) => expect(isTransient(stderr)).toBe(false));
});

describe('nextPause', () => {
  test('doubles from the first pause up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => nextPause(DEFAULT_RETRY, n, 0))).toEqual([500, 1000, 2000, 4000, 4000, 4000]);
  });

  test('stops when the pause would end past the budget', () => {
    expect(nextPause(DEFAULT_RETRY, 3, 27_000)).toBe(2000);
    expect(nextPause(DEFAULT_RETRY, 4, 27_000)).toBeUndefined();
  });
});

describe('client-go log lines in stderr', () => {
  const noise =
    "E1130 06:00:00.000000   12345 memcache.go:265] couldn't get current server API group list: the server is currently unable to handle the request";
  test('are not taken for the error: a refusal next to them is not retried', () => {
    expect(isTransient(`${noise}\nError from server (Forbidden): deployments.apps "web" is forbidden`)).toBe(false);
  });
  test('a 5xx through a proxy is retried', () => {
    expect(isTransient('Error from server (InternalError): an error on the server ("502 Bad Gateway") has prevented the request from succeeding')).toBe(true);
  });
});
