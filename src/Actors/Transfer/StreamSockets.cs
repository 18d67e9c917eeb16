using System.Net;
using System.Net.Sockets;
using PapaActors.Actors.Tls;

namespace PapaActors.Actors.Transfer;

/// <summary>
/// Every socket of the stream path is opened and set up here and nowhere else: the rest only sees the connection's
/// Stream, which with TLS (<see cref="NodeTls"/>) is an SslStream with mutual authentication around the NetworkStream.
/// A handshake's reads and writes are bounded by the same timeout as any other.
/// </summary>
internal static class StreamSockets
{
    public static TcpListener Listen(string host, int port)
    {
        var address = IPAddress.TryParse(host, out var literal) ? literal : Dns.GetHostAddresses(host)[0];
        var listener = new TcpListener(address, port);
        listener.Start();
        return listener;
    }

    /// <exception cref="TimeoutException">no connection within <paramref name="timeout"/></exception>
    /// <exception cref="System.Security.Authentication.AuthenticationException">with <paramref name="tls"/>: the other node is not one of our CA's</exception>
    public static Stream Connect(string host, int port, TimeSpan timeout, NodeTls? tls)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            using var deadline = new CancellationTokenSource(timeout);
            socket.ConnectAsync(host, port, deadline.Token).AsTask().GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            socket.Dispose();
            throw new TimeoutException($"could not connect to {host}:{port} within {timeout.TotalSeconds:0.###} s");
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        var connection = Open(socket, timeout);
        return tls is null ? connection : Secured(connection, stream => tls.AuthenticateAsClient(stream, host));
    }

    public static Stream Accepted(Socket socket, TimeSpan timeout) => Open(socket, timeout);

    /// <summary>An accepted connection after the TLS handshake (run it on the connection's own thread: it waits for the peer).</summary>
    /// <exception cref="System.Security.Authentication.AuthenticationException">the peer showed no certificate of our CA</exception>
    public static Stream AuthenticatedAsServer(Stream accepted, NodeTls? tls) =>
        tls is null ? accepted : Secured(accepted, tls.AuthenticateAsServer);

    private static Stream Secured(Stream connection, Func<Stream, Stream> handshake)
    {
        try
        {
            return handshake(connection);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Reads and writes that make no progress for <paramref name="timeout"/> fail (an IOException).</summary>
    private static Stream Open(Socket socket, TimeSpan timeout)
    {
        try
        {
            // A frame ends with a 4-byte checksum that must not wait for the peer's delayed ACK.
            socket.NoDelay = true;
            // A peer that vanished without closing (power loss, cable) is noticed within a minute, also while idle.
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, 30);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, 10);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, 3);
            var milliseconds = (int)Math.Min(int.MaxValue, timeout.TotalMilliseconds);
            return new NetworkStream(socket, ownsSocket: true) { ReadTimeout = milliseconds, WriteTimeout = milliseconds };
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
