using System.Runtime.Serialization;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using CsCheck;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Serialization;
using PapaActors.Actors.Transfer;
using PapaActors.Testing;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Actors.Serialization;

/// <summary>
/// Random and mutated bytes (from valid encodings of every message type) fed to everything that reads the network:
/// PapaSerializer for every manifest and the stream frame reader. Each must answer with its named
/// error or a message, and allocate no more than the bytes it was given back (plus a fixed allowance), never beyond
/// the 1 MiB limit set here. CsCheck generators drawn from a fixed PCG: every run feeds the same inputs.
/// </summary>
public sealed class WireFuzzTests() : TestKit(PapaTestKitConfig.For(TestSettings.TinyConfig("transfer.max-message-bytes=1MiB"), virtualTime: false))
{
    private const long Limit = 1 << 20;
    private const long Allowance = 64 * 1024;
    /// <summary>Bytes allocated per byte read, at most: a 17-byte MemberMix becomes a 56-byte object and a list slot.</summary>
    private const long PerByte = 16;

    private static readonly string[] Manifests = [.. PapaSerializer.KnownManifests, "", "checkpoint", "System.UriBuilder, System.Private.Uri"];

    private static readonly Gen<int> Interesting = Gen.OneOf(Gen.Int, Gen.Int[-2, 300], Gen.Int[0, 1 << 20],
        Gen.Const(int.MaxValue), Gen.Const(int.MinValue), Gen.Const(1 << 30), Gen.Const(500_000_000));

    /// <summary>Flip a bit, write a 32-bit value, cut, insert noise, or replace everything by noise, at a fraction of the length.</summary>
    private static readonly Gen<(int Kind, double At, int Value, byte[] Noise)> Mutation =
        Gen.Select(Gen.Int[0, 4], Gen.Double[0, 1], Interesting, Gen.Byte.Array[0, 64]);

    private static byte[] Mutate(byte[] valid, (int Kind, double At, int Value, byte[] Noise)[] mutations)
    {
        var bytes = valid;
        foreach (var (kind, fraction, value, noise) in mutations)
        {
            var at = (int)(fraction * bytes.Length);
            bytes = kind switch
            {
                0 when bytes.Length > 0 => Flipped(bytes, Math.Min(at, bytes.Length - 1), value),
                1 when at + 4 <= bytes.Length => Written(bytes, at, value),
                2 => bytes[..at],
                3 => [.. bytes[..at], .. noise, .. bytes[at..]],
                4 => noise,
                _ => bytes,
            };
        }
        return bytes;
    }

    private static byte[] Flipped(byte[] bytes, int at, int bit)
    {
        var copy = bytes.ToArray();
        copy[at] ^= (byte)(1 << (bit & 7));
        return copy;
    }

    private static byte[] Written(byte[] bytes, int at, int value)
    {
        var copy = bytes.ToArray();
        BitConverter.TryWriteBytes(copy.AsSpan(at), value);
        return copy;
    }

    /// <summary>Every wire message type, filled in two ways, as PapaSerializer writes it.</summary>
    private List<(string Manifest, byte[] Bytes)> ValidEncodings(PapaSerializer serializer) =>
        [.. Samples.AllWireMessages(TestActor).Concat(Samples.WireMessageTypes().Select(t => Samples.WithDistinctValues(t, TestActor)))
            .Select(m => (serializer.Manifest(m), serializer.ToBinary(m)))];

    /// <summary>Runs <paramref name="read"/> on each of <paramref name="count"/> inputs drawn from <paramref name="gen"/> with a fixed seed.</summary>
    private static void Fuzz<T>(Gen<T> gen, int count, Action<T> read)
    {
        var random = new PCG(7101, 2026);
        for (var i = 0; i < count; i++)
        {
            var input = gen.Generate(random, null!, out _);
            try
            {
                read(input);
            }
            catch (Exception e)
            {
                throw new Xunit.Sdk.XunitException($"input {i} ({Check.Print(input)}): {e}");
            }
        }
    }

    /// <param name="unbacked">What the reader may give an array before its bytes have come (a network stream's).</param>
    private static void AssertAllocatedAtMost(long allocated, long inputBytes, long unbacked = 0)
    {
        Assert.True(allocated <= Allowance + unbacked + PerByte * inputBytes, $"{allocated} bytes allocated for {inputBytes} bytes of input");
        Assert.True(allocated <= Limit + Allowance, $"{allocated} bytes allocated, over the {Limit}-byte limit");
    }

    [Fact]
    public void ThePapaSerializerAnswersAnyBytesUnderAnyManifestWithAMessageOrASerializationException()
    {
        var serializer = new PapaSerializer((ExtendedActorSystem)Sys);
        var valid = ValidEncodings(serializer);
        var inputs = Gen.Select(Gen.Int[0, valid.Count - 1], Mutation.Array[1, 3], Gen.Int[0, Manifests.Length * 4])
            .Select((pick, mutations, manifest) => (Manifest: manifest < Manifests.Length ? Manifests[manifest] : valid[pick].Manifest,
                Bytes: Mutate(valid[pick].Bytes, mutations)));

        Fuzz(inputs, 20_000, input =>
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                Assert.IsAssignableFrom<IPapaMessage>(serializer.FromBinary(input.Bytes, input.Manifest));
            }
            catch (SerializationException)
            {
                // the named error
            }
            AssertAllocatedAtMost(GC.GetAllocatedBytesForCurrentThread() - before, input.Bytes.Length);
        });
    }

    [Fact]
    public void TheStreamFrameReaderAnswersAnyBytesWithAMessageAFailedTransferOrItsNamedErrors()
    {
        var serializer = new PapaSerializer((ExtendedActorSystem)Sys);
        var writer = new StreamFrameWriter(serializer);
        byte[] Frame(object message, string manifest, long length)
        {
            using var bytes = new MemoryStream();
            writer.Write(bytes, new OutgoingFrame(1, TestActor, ActorRefs.Nobody, message, manifest, length));
            return bytes.ToArray();
        }
        var valid = ValidEncodings(serializer);
        // Every message under its own manifest, and the first under each manifest another sender could put in a header.
        var frames = valid.Select(e => Frame(serializer.FromBinary(e.Bytes, e.Manifest), e.Manifest, e.Bytes.Length))
            .Concat(Manifests.Select(m => Frame(serializer.FromBinary(valid[0].Bytes, valid[0].Manifest), m, valid[0].Bytes.Length))).ToList();
        var reader = new StreamFrameReader(serializer, Limit);
        var inputs = Gen.Select(Gen.Int[0, frames.Count - 1], Gen.Int[0, frames.Count - 1], Mutation.Array[1, 3])
            .Select((first, second, mutations) => Mutate([.. frames[first], .. frames[second]], mutations));

        Fuzz(inputs, 10_000, bytes =>
        {
            var connection = new MemoryStream(bytes, writable: false);
            for (var frame = 0; frame < 3; frame++)
            {
                var before = GC.GetAllocatedBytesForCurrentThread();
                FrameRead? read;
                try
                {
                    read = reader.Read(connection);
                }
                catch (Exception e) when (e is InvalidDataException or IOException)
                {
                    return; // the named errors: a header that cannot be trusted, or a connection that ended within one
                }
                finally
                {
                    AssertAllocatedAtMost(GC.GetAllocatedBytesForCurrentThread() - before, bytes.Length, unbacked: 1 << 20);
                }
                if (read is null || !read.ConnectionUsable)
                    return;
                Assert.True(read.Arrival is StreamPayload or StreamTransferFailed, $"read a {read.Arrival.GetType().Name}");
            }
        });
    }
}
