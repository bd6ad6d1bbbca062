#!/usr/bin/env node
// A charging station built on ocpp-rpc (an independent OCPP-J implementation)
// in strict mode: every frame, both ways, is validated against the official
// JSON schemas of the agreed subprotocol (ocpp-rpc ships the OCA schemas of
// OCPP 1.6 and 2.0.1). A schema failure on either side is reported and fails
// the run.
//
//   node station.js <ws url up to /ocpp> <identity> <ocpp2.0.1|ocpp1.6> <id token>
//
// It boots, reports its connector, authorizes the token, charges through one
// whole transaction with meter values, then waits for the CMS: a remote stop
// (answered Accepted, then the transaction ends with reason Remote) and a
// Reset (answered Accepted, then the station reconnects and boots again).
// Progress is printed as one JSON object a line for the test driving it.
'use strict';

const { RPCClient, createRPCError } = require('ocpp-rpc');

const [endpoint, identity, protocol, idToken] = process.argv.slice(2);
if (!endpoint || !identity || !['ocpp2.0.1', 'ocpp1.6'].includes(protocol) || !idToken) {
    console.error('usage: station.js <endpoint> <identity> <ocpp2.0.1|ocpp1.6> <id token>');
    process.exit(64);
}
const v201 = protocol === 'ocpp2.0.1';
const failures = [];
const received = [];

function say(event, details = {}) {
    process.stdout.write(JSON.stringify({ event, ...details }) + '\n');
}

function now() {
    return new Date().toISOString();
}

function once() {
    let resolve;
    const promise = new Promise((done) => { resolve = done; });
    return { promise, resolve };
}

const stopRequested = once();
const resetRequested = once();

function connect() {
    const client = new RPCClient({
        endpoint,
        identity,
        protocols: [protocol],
        strictMode: true,
        reconnect: false,
        callTimeoutMs: 30000,
    });
    client.on('strictValidationFailure', (failure) => {
        const record = {
            method: failure.method,
            outbound: failure.outbound,
            isCall: failure.isCall,
            error: String(failure.error && failure.error.message),
            params: failure.params,
            result: failure.result,
        };
        failures.push(record);
        say('strict_validation_failure', record);
    });
    client.handle(v201 ? 'RequestStopTransaction' : 'RemoteStopTransaction', ({ params }) => {
        received.push(v201 ? 'RequestStopTransaction' : 'RemoteStopTransaction');
        stopRequested.resolve(params);
        return { status: 'Accepted' };
    });
    client.handle('Reset', ({ params }) => {
        received.push('Reset');
        resetRequested.resolve(params);
        return { status: 'Accepted' };
    });
    // Anything else the CMS asks (a configuration read after boot, a trigger):
    // this station implements none of it (OCPP-J §4.2.3 NotImplemented).
    client.handle(({ method }) => {
        received.push(method);
        say('call_from_cms', { method });
        throw createRPCError('NotImplemented', `${method} is not implemented here`);
    });
    return client;
}

function energy(wh, context, at) {
    const sampled = v201
        ? {
            value: wh,
            measurand: 'Energy.Active.Import.Register',
            context,
            unitOfMeasure: { unit: 'Wh' },
        }
        : {
            value: String(wh),
            measurand: 'Energy.Active.Import.Register',
            context,
            unit: 'Wh',
        };
    return { timestamp: at || now(), sampledValue: [sampled] };
}

async function boot(client, reason) {
    const answer = v201
        ? await client.call('BootNotification', {
            reason,
            chargingStation: {
                vendorName: 'Interop',
                model: 'ocpp-rpc station',
                serialNumber: 'RPC-1',
                firmwareVersion: '2.2.1',
            },
        })
        : await client.call('BootNotification', {
            chargePointVendor: 'Interop',
            chargePointModel: 'ocpp-rpc charger',
            chargePointSerialNumber: 'RPC-1',
            firmwareVersion: '2.2.1',
        });
    say('booted', { status: answer.status, interval: answer.interval, reason });
    if (answer.status !== 'Accepted') {
        throw new Error(`boot answered ${answer.status}`);
    }
}

async function status(client, value) {
    if (v201) {
        // 2.0.1 connectorStatus has no Charging: the transaction carries it.
        await client.call('StatusNotification', {
            timestamp: now(), connectorStatus: value, evseId: 1, connectorId: 1,
        });
    } else {
        await client.call('StatusNotification', {
            connectorId: 1, errorCode: 'NoError', status: value, timestamp: now(),
        });
    }
}

async function charge201(client) {
    const token = { idToken, type: 'ISO14443' };
    const authorized = await client.call('Authorize', { idToken: token });
    say('authorized', { status: authorized.idTokenInfo.status });
    await status(client, 'Occupied');
    const transactionId = `RPC-${Date.now()}`;
    const event = (eventType, seqNo, triggerReason, extra) => client.call('TransactionEvent', {
        eventType,
        timestamp: now(),
        triggerReason,
        seqNo,
        transactionInfo: { transactionId, ...(extra.info || {}) },
        ...(extra.body || {}),
    });
    await event('Started', 0, 'Authorized', {
        info: { chargingState: 'Charging' },
        body: {
            idToken: token,
            evse: { id: 1, connectorId: 1 },
            meterValue: [energy(0, 'Transaction.Begin')],
        },
    });
    await event('Updated', 1, 'MeterValuePeriodic', {
        info: { chargingState: 'Charging' },
        body: { meterValue: [energy(7000, 'Sample.Periodic')] },
    });
    say('charging', { transactionId });
    const stop = await stopRequested.promise;
    say('stop_requested', { params: stop });
    await event('Ended', 2, 'RemoteStop', {
        info: { chargingState: 'EVConnected', stoppedReason: 'Remote' },
        body: { meterValue: [energy(11000, 'Transaction.End')] },
    });
    await status(client, 'Available');
    say('stopped', { transactionId });
}

async function charge16(client) {
    const authorized = await client.call('Authorize', { idTag: idToken });
    say('authorized', { status: authorized.idTagInfo.status });
    await status(client, 'Preparing');
    const started = await client.call('StartTransaction', {
        connectorId: 1, idTag: idToken, meterStart: 0, timestamp: now(),
    });
    const transactionId = started.transactionId;
    await status(client, 'Charging');
    await client.call('MeterValues', {
        connectorId: 1, transactionId, meterValue: [energy(7000, 'Sample.Periodic')],
    });
    say('charging', { transactionId });
    const stop = await stopRequested.promise;
    say('stop_requested', { params: stop });
    await client.call('StopTransaction', {
        transactionId,
        meterStop: 11000,
        timestamp: now(),
        reason: 'Remote',
        transactionData: [energy(11000, 'Transaction.End')],
    });
    await status(client, 'Finishing');
    await status(client, 'Available');
    say('stopped', { transactionId });
}

async function main() {
    const first = connect();
    await first.connect();
    await boot(first, 'PowerUp');
    await status(first, 'Available');
    await (v201 ? charge201(first) : charge16(first));
    const reset = await resetRequested.promise;
    say('reset_requested', { params: reset });
    // A station resets after answering: the socket goes, it comes back and boots.
    await new Promise((done) => setTimeout(done, 200));
    await first.close({ code: 1000, awaitPending: true });
    const second = connect();
    await second.connect();
    await boot(second, v201 ? 'RemoteReset' : 'PowerUp');
    await status(second, 'Available');
    await second.close({ code: 1000, awaitPending: true });
    say('done', { failures: failures.length, received });
    process.exit(failures.length ? 2 : 0);
}

main().catch((error) => {
    say('error', { message: String(error && error.stack || error), failures: failures.length });
    process.exit(1);
});
