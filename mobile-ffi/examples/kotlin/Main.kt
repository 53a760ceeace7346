// A small Kotlin/JVM app on Herald's mobile binding: what an Android app does, minus the UI.
//
// Two accounts in two domains (alice@d0.test, bob@d1.test) register their identity keys with
// the operators' one-time codes, follow both domains' logs (cosigned checkpoints), log in, send
// a mail with an attachment from Alice to Bob, which Bob finds in his mailbox and reads, and
// Alice sees delivered with its notary records; then they run certified mail to a verified
// cosigned inclusion, and an arbiter verifies the evidence bundle offline and rejects a forged
// one. Exits 0 when every step held, 1 otherwise.
//
// Arguments (mobile-ffi/tests/python/run_kotlin_example.py passes them from a testnet it
// starts): --state DIR, and for i in 0, 1: --d<i>-log KEY --d<i>-witness KEY --d<i>-gateway
// ADDR, then --alice-code CODE --bob-code CODE.

import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import uniffi.herald_mobile_ffi.*
import kotlin.system.exitProcess

const val PASSPHRASE = "herald kotlin example throwaway passphrase"
const val ACCOUNT_PASSWORD = "herald kotlin example throwaway password"
val MESSAGE = "Dear Bob, the signed contract is attached. — Alice".toByteArray()
val MAIL_BODY = "Dear Bob, here is the contract. — Alice".toByteArray()

fun check(condition: Boolean, what: String) {
    if (!condition) throw IllegalStateException("check failed: $what")
}

/** Calls [call] again while the gateway says "not yet", at most [timeoutMs]. */
suspend fun <T> untilServed(timeoutMs: Long = 30_000, call: suspend () -> T): T =
    withTimeout(timeoutMs) {
        while (true) {
            try {
                return@withTimeout call()
            } catch (e: HeraldException.NotYet) {
                delay(100)
            } catch (e: HeraldException.RefusedByGateway) {
                if (e.code != "NOT_FOUND") throw e
                delay(100)
            }
        }
        @Suppress("UNREACHABLE_CODE")
        throw IllegalStateException("unreachable")
    }

/** Logs [account] in, waiting as long as the gateway's rate limit says (at most a minute). */
suspend fun loginRetrying(account: HeraldAccount): LoginInfo =
    withTimeout(60_000) {
        while (true) {
            try {
                return@withTimeout account.login(ACCOUNT_PASSWORD)
            } catch (e: HeraldException.RateLimited) {
                delay(e.retryAfterMs.toLong())
            }
        }
        @Suppress("UNREACHABLE_CODE")
        throw IllegalStateException("unreachable")
    }

class Testnet(private val args: Map<String, String>) {
    fun log(i: Int, withGateway: Boolean = true) = LogConfig(
        logKey = args.getValue("--d$i-log"),
        hash = LogHash.SHA256,
        // Each domain is witnessed by the other one, quorum 1.
        witnessKeys = listOf(args.getValue("--d${1 - i}-witness")),
        quorum = 1u,
        gateway = if (withGateway) args.getValue("--d$i-gateway") else null,
        clockSkewSecs = 2uL,
        maxMergeDelaySecs = 2uL,
    )

    fun config(home: Int, name: String) = HeraldConfig(
        home = log(home),
        otherLogs = listOf(log(1 - home)),
        stateDir = args.getValue("--state") + "/" + name,
        maxClockSkewSecs = 2uL,
        certifiedMail = CertifiedMailPolicy(witnessPeriodSecs = 1uL, marginSecs = 1uL),
    )
}

suspend fun enrolled(net: Testnet, home: Int, account: String, code: String): Pair<HeraldClient, HeraldAccount> {
    val client = HeraldClient(net.config(home, account))
    val me = withTimeout(60_000) { client.createAccount(account, PASSPHRASE) }
    val registration = withTimeout(60_000) { me.register(code, ACCOUNT_PASSWORD) }
    val binding = untilServed { client.lookupBinding(account) }
    check(binding.identityKey.contentEquals(me.identityKey()), "$account's binding names its key")
    println("$account registered: binding at index ${registration.index}, cosigned in tree ${binding.checkpoint.size}")
    return client to me
}

fun main(argv: Array<String>) = runBlocking {
    val args = argv.toList().chunked(2).associate { it[0] to it[1] }
    val net = Testnet(args)
    try {
        val (aliceClient, alice) = enrolled(net, 0, "alice@d0.test", args.getValue("--alice-code"))
        val (bobClient, bob) = enrolled(net, 1, "bob@d1.test", args.getValue("--bob-code"))

        // Follow both logs: a checkpoint is trusted only when cosigned and consistent.
        for (origin in listOf("d0.test/herald", "d1.test/herald")) {
            val cp = untilServed { aliceClient.refreshCheckpoint(origin) }
            check(cp.size > 0uL && cp.note.contains("— d"), "$origin's checkpoint is cosigned")
            println("trusted $origin at size ${cp.size}")
        }

        // Log in (PAEP with the password set at registration); a wrong one is refused, typed.
        try {
            withTimeout(60_000) { alice.login("not the password") }
            check(false, "a wrong password is refused")
        } catch (e: HeraldException.BadPassword) {
            println("a wrong password is refused: BadPassword")
        }
        loginRetrying(alice)
        loginRetrying(bob)
        val topUp = withTimeout(60_000) { bob.topUpPrekeys(4u) }
        println("Bob's gateway holds ${topUp.oneTimeRemaining} one-time prekeys")

        // Alice sends a mail with an attachment; Bob finds it in his mailbox and reads it.
        val pdf = "%PDF-1.7 the signed contract".toByteArray()
        val sent = untilServed {
            alice.send(bob.account(), "Contract", MAIL_BODY,
                listOf(MailAttachment("contract.pdf", "application/pdf", pdf)))
        }
        val entry = withTimeout(60_000) {
            var found: InboxEntry? = null
            while (found == null) {
                found = bob.checkMail().newMail.firstOrNull { it.msgId.contentEquals(sent.msgId) }
                if (found == null) delay(200)
            }
            found
        }
        val mail = withTimeout(60_000) { bob.read(entry.id) }
        check(mail.sender == alice.account(), "the mail is from Alice, verified")
        check(mail.body.contentEquals(MAIL_BODY), "Bob read Alice's mail")
        check(mail.attachments.size == 1 && mail.attachments[0].data.contentEquals(pdf),
            "the attachment arrived whole")
        println("Bob read \"${mail.subject}\" from ${mail.sender} with ${mail.attachments[0].name}")
        val status = withTimeout(60_000) {
            var s = alice.deliveryStatus(sent.msgId)
            // The handover is logged when Bob fetches; Alice's gateway marks the mail delivered
            // when Bob's gateway answers its relay: both come, in either order.
            while (s.state != DeliveryState.DELIVERED || s.records.none { it.kind == "HANDOVER" }) {
                delay(500)
                s = alice.deliveryStatus(sent.msgId)
            }
            s
        }
        check(status.state == DeliveryState.DELIVERED, "Alice sees it delivered")
        println("delivered; records: ${status.records.joinToString { "${it.origin} ${it.kind}" }}")

        // Certified mail: seal, request, accept, publish (to evidence), fetch.
        val sealed = withTimeout(30_000) { alice.sendCertified(bob.account(), MESSAGE, true) }
        val deadline = (System.currentTimeMillis() / 1000 + 60).toULong()
        val request = withTimeout(30_000) { bob.requestKey(sealed.sealed, deadline, null) }
        val accepted = withTimeout(60_000) { alice.acceptRequest(request.request) }
        println("Alice accepted Bob's request; publishing at ${accepted.origin}")
        val outcome = withTimeout(60_000) { alice.publish(sealed.msgId, 30uL) }
        check(outcome is PublishOutcome.Proven, "the publication was cosigned in time")
        val bundle = (outcome as PublishOutcome.Proven).evidence
        val opened = withTimeout(60_000) { bob.fetch(request.reqHash, 30uL) }
        check(opened.plaintext.contentEquals(MESSAGE), "Bob read Alice's letter")
        check((opened.delivery as? KeyDelivery.Published)?.onTime == true, "published on time")
        println("Bob opened the letter: ${String(opened.plaintext)}")

        // The arbiter, offline, with its own copy of Bob's domain log.
        val trusted = listOf(net.log(1, withGateway = false))
        val verdict = verifyEvidence(bundle, trusted, ArbiterOptions())
        check(verdict.outcome == VerdictOutcome.RECEIVED, "the evidence shows receipt: $verdict")
        println("arbiter: received, decided by ${verdict.decidedBy?.id}")
        val forged = bundle.copyOf()
        val at = String(bundle, Charsets.ISO_8859_1).indexOf(String(MESSAGE, Charsets.ISO_8859_1))
        check(at > 0, "the bundle carries M")
        forged[at + 5] = (forged[at + 5].toInt() xor 1).toByte()
        val rejected = verifyEvidence(forged, trusted, ArbiterOptions())
        check(rejected.outcome == VerdictOutcome.NOT_SHOWN, "a forged bundle is not shown")
        println("arbiter: forged bundle not shown, decided by ${rejected.decidedBy?.id}")
        alice.logout()
        bob.logout()
        aliceClient.close()
        bobClient.close()
        println("kotlin example: 1 passed, 0 failed")
    } catch (e: Throwable) {
        System.err.println("kotlin example failed: $e")
        exitProcess(1)
    }
}
