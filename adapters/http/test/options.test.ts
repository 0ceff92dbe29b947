// Option validation and the error → HTTP status table, with core's real error classes.
import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  ConfigError,
  ConnectionResetError,
  NoDaemonsError,
  QueueFullError,
  SerializationError,
  TaskError,
  TimeoutError,
  fromModule,
} from '@mirai-ts/core';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { checkOptions, errorResponse, expressHandler, fastifyHandler, miraiHandler, offload } from '@mirai-ts/http';

describe('options', () => {
  it('applies defaults', () => {
    expect(checkOptions(undefined)).toMatchObject({ retry: 0, retryAfter: 1, exposeErrors: false });
  });

  it('rejects unknown keys, with a suggestion for near misses', () => {
    expect(() => checkOptions({ timout: 5 } as never)).toThrow(/@mirai-ts\/http: unknown option 'timout'; did you mean 'timeout'\?/);
    expect(() => checkOptions({ zzzzzz: 1 } as never)).toThrow(/unknown option 'zzzzzz' \(known: profile, timeout, retry/);
  });

  it.each([
    [{ timeout: 0 }, /option 'timeout' must be a number of milliseconds > 0 and ≤ 2147483647, got 0$/],
    [{ timeout: '100' }, /option 'timeout' must be a number of milliseconds.*got '100' \(a string\)/],
    [{ retry: 1.5 }, /option 'retry' must be a whole number ≥ 0, got 1.5/],
    [{ retryAfter: -1 }, /option 'retryAfter' must be a whole number of seconds ≥ 0, got -1/],
    [{ retryAfter: '5' }, /option 'retryAfter'.*'5' \(a string\)/],
    [{ profile: '' }, /option 'profile' must be a non-empty string/],
    [{ exposeErrors: 'yes' }, /option 'exposeErrors' must be a boolean/],
    [{ onError: 'log' }, /option 'onError' must be a function, got 'log'/],
  ])('rejects %j', (options, message) => {
    expect(() => checkOptions(options as never)).toThrow(ConfigError);
    expect(() => checkOptions(options as never)).toThrow(message);
  });

  it('rejects a non-object and checks the task and argsOf when a handler is made', () => {
    expect(() => checkOptions(5 as never)).toThrow(/@mirai-ts\/http: options must be an object, got 5$/);
    const makers = [miraiHandler, expressHandler, fastifyHandler] as ((fn: unknown, argsOf: unknown, options?: unknown) => unknown)[];
    for (const make of makers) {
      expect(() => make('fib', () => ({}))).toThrow(/the task \(fn\) must be a function or fromModule/);
      expect(() => make(() => 1, { n: 1 })).toThrow(/argsOf must be a function/);
      expect(() => make(() => 1, () => ({}), { retryAfer: 2 })).toThrow(/did you mean 'retryAfter'/);
    }
  });

  it('refuses an object that is not a module function when the handler is made', async () => {
    const namespace = await import('node:os'); // `import * as tasks`: a common slip for fromModule
    const makers = [miraiHandler, expressHandler, fastifyHandler] as ((fn: unknown, argsOf: unknown) => unknown)[];
    const expected = "@mirai-ts/http: the task (fn) must be a function or fromModule(path, name) (an object with string 'module' and 'export'), got";
    for (const make of makers) {
      for (const [fn, shown] of [
        [namespace, 'a module namespace (name one of its exports with fromModule(path, name))'],
        [{ module: './tasks.js' }, '{"module":"./tasks.js"}'],
        [{ module: './tasks.js', export: 7 }, '{"module":"./tasks.js","export":7}'],
        [{}, '{}'],
        [null, 'null'],
      ] as const) {
        expect(() => make(fn, () => ({}))).toThrow(ConfigError);
        expect(() => make(fn, () => ({}))).toThrow(`${expected} ${shown}`);
      }
      expect(() => make(fromModule('./tasks.js', 'fit'), () => ({}))).not.toThrow();
      expect(() => make({ module: 'my-pkg/tasks', export: 'default' }, () => ({}))).not.toThrow();
    }
  });
});

describe('offload and errorResponse with options of their own', () => {
  it('checks options that checkOptions did not make, and applies them', async () => {
    const response = new ServerResponse(new IncomingMessage(new Socket()));
    await expect(offload({}, response, () => 1, () => ({}), { retryAfter: '7' } as never)).rejects.toThrow(
      /@mirai-ts\/http: option 'retryAfter' must be a whole number of seconds ≥ 0, got '7' \(a string\)/,
    );
    await expect(offload({}, response, () => 1, () => ({}), { retryAfer: 7 } as never)).rejects.toThrow(/did you mean 'retryAfter'/);
    await expect(offload({}, response, 'fib' as never, () => ({}))).rejects.toThrow(ConfigError);
    // No daemons in this file: a 503 whose Retry-After is the option's.
    const outcome = await offload({}, response, () => 1, () => ({}), { retryAfter: 7, profile: 'http-options-test' });
    expect(outcome).toMatchObject({ kind: 'error', response: { status: 503, headers: { 'Retry-After': '7' } } });
    expect(await offload({}, response, () => 1, () => ({}), checkOptions({ retryAfter: 9, profile: 'http-options-test' }))).toMatchObject({
      response: { headers: { 'Retry-After': '9' } },
    });
    expect(Object.isFrozen(checkOptions(undefined))).toBe(true);
  });

  it('errorResponse checks its options and fills in the defaults', () => {
    expect(() => errorResponse(new Error('x'), { exposeErrors: 'yes' } as never)).toThrow(/@mirai-ts\/http errorResponse: option 'exposeErrors' must be a boolean/);
    expect(() => errorResponse(new Error('x'), { retry: 1 } as never)).toThrow(/unknown option 'retry'/);
    expect(errorResponse(new QueueFullError('full'))).toMatchObject({ status: 503, headers: { 'Retry-After': '1' } });
    expect(errorResponse(new Error('x')).body).toEqual({ error: 'Error' });
    expect(errorResponse(new Error('x'), { exposeErrors: true }).body).toEqual({ error: 'Error', message: 'x' });
  });
});

describe('errorResponse', () => {
  const defaults = { retryAfter: 2, exposeErrors: false };
  it.each([
    [new QueueFullError('queue full'), 503, '2'],
    [new NoDaemonsError('default'), 503, '2'],
    [new TimeoutError(100), 504, undefined],
    [new ConnectionResetError('daemon 1 exited'), 502, undefined],
    [new CancelledError('stop'), 503, undefined],
    [new SerializationError('cannot send', 'args.f'), 500, undefined],
    [new TaskError('boom', ['Error']), 500, undefined],
  ])('%s → %i', (error, status, retryAfter) => {
    const r = errorResponse(error, defaults);
    expect(r.status).toBe(status);
    expect(r.headers['Retry-After']).toBe(retryAfter);
    expect(r.body.error).toBe(error.name);
  });

  it("sends a task's message only with exposeErrors", () => {
    const error = new TaskError('db password is hunter2', ['Error']);
    expect(errorResponse(error, defaults).body.message).toBeUndefined();
    expect(errorResponse(error, { ...defaults, exposeErrors: true }).body.message).toBe('db password is hunter2');
    expect(errorResponse(new TimeoutError(100), defaults).body.message).toMatch(/within 100 ms/);
  });

  it('keeps a 4xx status of other errors and hides 500 messages', () => {
    expect(errorResponse(Object.assign(new Error('bad n'), { statusCode: 422 }), defaults)).toMatchObject({
      status: 422,
      body: { message: 'bad n' },
    });
    expect(errorResponse(new Error('internal'), defaults).body).toEqual({ error: 'Error' });
  });

  it('sends the message of any 500 with exposeErrors, not only a MiraiError', () => {
    const exposed = { ...defaults, exposeErrors: true };
    expect(errorResponse(new Error('internal'), exposed)).toMatchObject({ status: 500, body: { error: 'Error', message: 'internal' } });
    expect(errorResponse(new SerializationError('no JSON', 'result'), exposed).body).toEqual({ error: 'SerializationError', message: 'no JSON' });
    expect(errorResponse('a string', exposed).body).toEqual({ error: 'Error' }); // nothing to send but a name
  });
});
