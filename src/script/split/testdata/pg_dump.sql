--
-- PostgreSQL database dump
--



SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: f(integer); Type: FUNCTION; Schema: public; Owner: postgres
--

CREATE FUNCTION public.f(a integer) RETURNS integer
    LANGUAGE sql
    BEGIN ATOMIC
 SELECT
         CASE
             WHEN (a > 0) THEN 1
             ELSE 0
         END AS "case";
 SELECT 2;
END;


ALTER FUNCTION public.f(a integer) OWNER TO postgres;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: a; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.a (
    x integer
);


ALTER TABLE public.a OWNER TO postgres;

--
-- Name: b; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.b (
    x integer
);


ALTER TABLE public.b OWNER TO postgres;

--
-- Name: pr(integer); Type: PROCEDURE; Schema: public; Owner: postgres
--

CREATE PROCEDURE public.pr(IN a integer)
    LANGUAGE sql
    BEGIN ATOMIC
 INSERT INTO public.a (x)
   VALUES (pr.a);
 INSERT INTO public.b (x)
   VALUES (pr.a);
END;


ALTER PROCEDURE public.pr(IN a integer) OWNER TO postgres;

--
-- Name: t; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.t (
    x integer
);


ALTER TABLE public.t OWNER TO postgres;

--
-- Data for Name: a; Type: TABLE DATA; Schema: public; Owner: postgres
--



--
-- Data for Name: b; Type: TABLE DATA; Schema: public; Owner: postgres
--



--
-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: postgres
--



--
-- Name: t r; Type: RULE; Schema: public; Owner: postgres
--

CREATE RULE r AS
    ON INSERT TO public.t DO INSTEAD ( INSERT INTO public.a (x)
  VALUES (new.x);
 INSERT INTO public.b (x)
  VALUES (new.x);
);


--
-- PostgreSQL database dump complete
--


